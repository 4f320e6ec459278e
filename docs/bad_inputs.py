"""Write the table of bad inputs and what a user sees for each, as docs/input.md shows it.

    python docs/bad_inputs.py

Each case is a small file run through `dnallm validate` (exit code and the stderr or stdout line), or a Python
value given to `dnallm.iter_records` (the exception message). Nothing here is typed by hand: the messages are
the program's own.
"""

from __future__ import annotations

import bz2
import gzip
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import dnallm

FILES: list[tuple[str, str, bytes]] = [
    ("empty file", "empty.fa", b""),
    ("text before the first header", "text.fa", b"ACGT\n>a\nACGT\n"),
    ("header only", "header.fa", b">a\n"),
    ("empty record between two others", "gap.fa", b">a\nACGT\n>b\n>c\nACGT\n"),
    ("duplicate ids", "dup.fa", b">a\nACGT\n>a\nACGT\n"),
    ("digit in a sequence", "digit.fa", b">a\nACGT\nAC1GT\n"),
    ("alignment gap", "aln.fa", b">a\nAC-GT\n"),
    ("letter outside IUPAC", "x.fa", b">a\nACGTXACGT\n"),
    ("header without id", "noid.fa", b">\nACGT\n"),
    ("lower case / soft-masked", "soft.fa", b">a\nACGTacgtNNnn\n"),
    ("IUPAC codes (default policy)", "iupac.fa", b">a\nACRYGT\n"),
    ("U (default policy)", "rna.fa", b">a\nACGUU\n"),
    ("spaces, tabs, CRLF, no final newline", "layout.fa", b">a\r\nAC GT\tAC\r\nGT"),
    ("non-UTF-8 header", "latin1.fa", b">a caf\xe9\nACGT\n"),
    ("binary data", "binary.fa", bytes(range(256))),
    ("truncated gzip", "cut.fa.gz", gzip.compress(b">a\n" + bytes(random.Random(0).choices(b"ACGT", k=20_000)))[:2000]),
    (".gz that is not gzip", "plain.fa.gz", b">a\nACGT\n"),
    ("bzip2 file", "x.fa.bz2", bz2.compress(b">a\nACGT\n")),
]

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
    print("| input | exit code | what the user sees |")
    print("|---|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, content in FILES:
            (Path(tmp) / name).write_bytes(content)
            run = subprocess.run(
                [sys.executable, "-m", "dnallm", "validate", "-q", name], cwd=tmp, capture_output=True, text=True,
                env=dict(os.environ, COLUMNS="200"),
            )
            lines = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
            shown = "<br>".join(cell(line) for line in lines)
            print(f"| {label} (`{name}`) | {run.returncode} | {shown} |")
        (Path(tmp) / "dir").mkdir()
        for label, name in (("missing file", "missing.fa"), ("a directory", "dir")):
            run = subprocess.run([sys.executable, "-m", "dnallm", "validate", "-q", name], cwd=tmp,
                                 capture_output=True, text=True)
            print(f"| {label} | {run.returncode} | {cell(run.stderr)} |")
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
