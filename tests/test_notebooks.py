"""The example notebooks run top to bottom on a clean install, and say what their prose says."""

from __future__ import annotations

import pytest

from tests.support import load_script

run_notebooks = load_script("examples/run_notebooks.py")


def outputs(notebook) -> str:
    text = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            text.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


@pytest.mark.parametrize("name", run_notebooks.NOTEBOOKS)
def test_notebook_runs(name):
    notebook = run_notebooks.run(name)
    text = outputs(notebook)
    images = sum("image/png" in out.get("data", {}) for cell in notebook.cells for out in cell.get("outputs", []))
    if name == "quickstart.ipynb":
        assert "chr4:126246986-126247186" in text and images >= 3
    else:
        assert "POU5F1" in text and "MAFK" in text and images >= 3
        assert "held-out peaks: 200" in text
