"""Write the table of bad inputs and what a user sees for each, as docs/input.md shows it.

    python docs/bad_inputs.py

Each case of the bad-input matrix (tests/bad_input_cases.py, which tests/test_bad_inputs.py runs through the CLI
and the Python API) is run through `dnallm predict` with the demo model: the exit code and the stderr line, or
the rows written. Then Python values given to `dnallm.iter_records`. Nothing here is typed by hand: the messages
are the program's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import dnallm
import dnallm.io.writers
import dnallm.registry


def _load_cases():
    """tests/bad_input_cases.py, the table tests/test_bad_inputs.py runs, imported by its path."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tests" / "bad_input_cases.py"
    spec = importlib.util.spec_from_file_location("bad_input_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the dataclass Case looks its module up here
    spec.loader.exec_module(module)
    return module


_cases = _load_cases()
CASES, model_args, write_input = _cases.CASES, _cases.model_args, _cases.write_input

VALUES: list[tuple[str, object]] = [
    ("string that is neither a file nor DNA", "peaks"),
    ("mistyped path", "data/peaks.fasta"),
    ("FASTA text passed as a string", ">a\nACGT"),
    ("list item that is a file name", ["peaks.fa"]),
    ("duplicate ids in a list of pairs", [("a", "ACGT"), ("a", "GG")]),
    ("gap in a dict value", {"a": "AC-GT"}),
    ("IUPAC code with iupac='error'", {"a": "ACWT"}),
    ("empty list", []),
]


def cell(text: str) -> str:
    return "`" + text.strip().replace("|", "\\|").replace("`", "'") + "`"


def main() -> None:
    print("| input | exit code | what the user sees (`dnallm predict IN -o out.tsv`, the demo model) |")
    print("|---|---:|---|")
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = write_input(case, folder)
            if case.kind == "unreadable":
                path.chmod(0)
                if os.geteuid() == 0:
                    print(f"| {case.name} | 2 | (run as a user: root reads every file; the test suite checks it "
                          "as user nobody) `dnallm: error: locked.fa: permission denied; ...` |")
                    continue
            run = subprocess.run(
                [sys.executable, "-m", "dnallm", "predict", "-q", path.name, "-o", "out.tsv", *model_args(case, folder),
                 *case.args],
                cwd=folder, capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"),
            )
            lines = [line for line in run.stderr.splitlines() if line.strip()]
            if run.returncode == 0:
                rows = dnallm.io.writers.read_results(folder / "out.tsv")
                ids = ", ".join(i if len(i) < 20 else i[:8] + f"... ({len(i):,} chars)" for i in rows["id"])
                windows = ", ".join(str(n) for n in rows["n_windows"])
                lines = [f"{case.policy}: {len(rows)} rows (ids {ids}; windows {windows})"] + lines
            shown = "<br>".join(cell(line.replace(str(folder) + "/", "")) for line in lines)
            print(f"| {case.name} | {run.returncode} | {shown} |")
    for label, value in VALUES:
        kwargs = {"iupac": "error"} if "iupac='error'" in label else {}
        try:
            list(dnallm.iter_records(value, **kwargs))
            shown = "accepted"
        except dnallm.InputError as exc:
            shown = f"InputError: {exc}"
        print(f"| Python: {label}: `{value!r}` | - | {cell(shown)} |".replace("\n", "\\n"))


if __name__ == "__main__":
    main()
