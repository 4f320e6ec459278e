"""Execute the example notebooks top to bottom, as the tests do; with --write, save their outputs in place.

    pip install ".[notebooks]"
    python examples/run_notebooks.py            # run both, report the time of each
    python examples/run_notebooks.py --write    # and keep the outputs in the .ipynb files
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ["quickstart.ipynb", "motif_discovery.ipynb"]


def run(name: str, write: bool = False, timeout: int = 600):
    """Execute one notebook with the working directory examples/; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(HERE / name, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}})
    client.execute()
    if write:
        nbformat.write(notebook, HERE / name)
    return notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="save the outputs into the notebooks")
    args = parser.parse_args()
    for name in NOTEBOOKS:
        start = time.perf_counter()
        run(name, args.write)
        print(f"{name}: ran in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
