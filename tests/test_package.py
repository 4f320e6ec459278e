"""The built wheel carries models.yaml and the `dnallm` command, and works installed, not only editable."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
    )
    (path,) = out.glob("dnallm-*.whl")
    return path


def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert {"dnallm/__init__.py", "dnallm/io/fasta.py", "dnallm/tokenization.py", "dnallm/models.yaml"} <= names
        demo = "dnallm/models/demo-oct4-mafk/"
        assert {demo + f for f in ("config.json", "model.safetensors", "tokenizer.json", "README.md")} <= names
        assert zf.read("dnallm/models.yaml") == (REPO / "models.yaml").read_bytes()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "dnallm = dnallm.cli:main" in zf.read(entry_points).decode()
        assert not any(n.startswith("tests/") for n in names)


def test_installed_wheel_reads_its_own_registry(wheel, tmp_path):
    """Installed from the wheel into its own directory (first on the path), run outside the checkout."""
    import os

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    code = "import dnallm, dnallm.registry as r; print(len(dnallm.load_registry())); print(r.registry_path())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True)
    count, path = out.stdout.split()
    assert int(count) >= 15
    assert path == str(target / "dnallm" / "models.yaml")
    cli = subprocess.run([sys.executable, str(target / "bin" / "dnallm"), "models", "--tsv"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert len(cli.stdout.splitlines()) == int(count) + 1
    # the embedded demo model predicts from the installed wheel, with no model named and no hub
    peaks = REPO / "examples" / "data" / "peaks.fa"
    predict = subprocess.run([sys.executable, str(target / "bin" / "dnallm"), "predict", str(peaks), "-q"],
                             cwd=tmp_path, env=dict(env, HF_HUB_OFFLINE="1"), capture_output=True, text=True)
    assert predict.returncode == 0, predict.stderr
    assert len(predict.stdout.splitlines()) == 11
