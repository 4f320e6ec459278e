"""The bad-input matrix: files nobody checked, and what dnallm does with each.

Used by tests/test_bad_inputs.py (every case through `dnallm predict` and `DNAInference.predict`) and by
docs/bad_inputs.py (the table in docs/input.md, from the program's own output).

A case is either
  * an error: the run stops with exit code 2, one line naming the file (and line and record where there is one)
    and what to do; nothing is written at the output path;
  * a policy: the run succeeds with one row per record, and its values equal those of ``clean`` (the same
    records written plainly), or ``check`` holds.
"""

from __future__ import annotations

import bz2
import gzip
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

_RNG = random.Random(7)


def _dna(n: int) -> str:
    return "".join(_RNG.choice("ACGT") for _ in range(n))


A = _dna(240)  # two windows of the demo model (202 bp each); longer than one k-mer of any model
B = _dna(230)
C = _dna(5_000)  # longer than any window of the demo model


@dataclass
class Case:
    name: str
    file: str  # the input's file name ("" for cases that are not about the input file)
    content: bytes | None = None  # None: the case builds its input itself (see kind)
    error: tuple[str, ...] = ()  # substrings of the one-line message (empty: a policy case)
    clean: bytes | None = None  # policy: the same records written plainly
    ids: tuple[str, ...] = ()  # policy: the ids of the rows, in order
    args: tuple[str, ...] = ()  # extra CLI arguments
    kind: str = "file"  # file, missing, directory, unreadable, model-name, model-no-tokenizer
    policy: str = ""  # what dnallm does, in words, for the docs table
    extra: dict = field(default_factory=dict)


def _gzip_truncated() -> bytes:
    return gzip.compress(b">a\n" + _dna(40_000).encode())[:3000]


CASES: list[Case] = [
    Case("empty file", "empty.fa", b"", error=("empty.fa: no FASTA records (the file is empty)",)),
    Case("no header at all", "noheader.fa", (A + "\n" + B + "\n").encode(),
         error=("noheader.fa:1: text before the first '>' header",)),
    Case("text before the first header", "preamble.fa", f"# peaks from MACS2\n>a\n{A}\n".encode(),
         error=("preamble.fa:1: text before the first '>' header",)),
    Case("header only", "header.fa", b">a\n", error=("header.fa:1 (record 'a'): the record has no sequence",)),
    Case("empty record between two others", "gap.fa", f">a\n{A}\n>b\n>c\n{B}\n".encode(),
         error=("gap.fa:3 (record 'b'): the record has no sequence",)),
    Case("duplicate ids", "dup.fa", f">a\n{A}\n>a\n{B}\n".encode(),
         error=("dup.fa:3 (record 'a'): duplicate id (first seen on line 1)",)),
    Case("header without an id", "noid.fa", f">\n{A}\n".encode(), error=("noid.fa:1: header without an id",)),
    Case("lower case", "lower.fa", f">a\n{A.lower()}\n".encode(), clean=f">a\n{A}\n".encode(), ids=("a",),
         policy="upper-cased"),
    Case("soft-masked regions", "soft.fa", f">a\n{A[:80]}{A[80:160].lower()}{A[160:]}\n".encode(),
         clean=f">a\n{A}\n".encode(), ids=("a",), policy="upper-cased (the mask is not kept)"),
    Case("N runs", "nrun.fa", f">a\n{A[:100]}{'N' * 40}{A[140:]}\n>b\n{'N' * 230}\n".encode(), ids=("a", "b"),
         policy="kept: N is a base of the alphabet; an all-N record gets a row too"),
    Case("other IUPAC codes", "iupac.fa", f">a\n{A[:50]}RYKM{A[54:]}\n".encode(),
         clean=f">a\n{A[:50]}NNNN{A[54:]}\n".encode(), ids=("a",), policy="read as N, counted in one warning"),
    Case("IUPAC codes with --iupac error", "iupac_error.fa", f">a\n{A[:50]}R{A[51:]}\n".encode(),
         args=("--iupac", "error"), error=("iupac_error.fa:2 (record 'a'): IUPAC ambiguity code 'R' in column 51",)),
    Case("U (RNA)", "rna.fa", f">a\n{A.replace('T', 'U')}\n".encode(), clean=f">a\n{A}\n".encode(), ids=("a",),
         policy="read as T, counted in one warning"),
    Case("spaces and tabs inside sequence", "spaces.fa", f">a\n{A[:60]} {A[60:120]}\t{A[120:]}\n".encode(),
         clean=f">a\n{A}\n".encode(), ids=("a",), policy="removed"),
    Case("CRLF line ends", "crlf.fa", f">a\r\n{A[:120]}\r\n{A[120:]}\r\n>b\r\n{B}\r\n".encode(),
         clean=f">a\n{A}\n>b\n{B}\n".encode(), ids=("a", "b"), policy="read as line ends"),
    Case("old Mac line ends (CR only)", "mac.fa", f">a\r{A[:120]}\r{A[120:]}\r>b\r{B}\r".encode(),
         clean=f">a\n{A}\n>b\n{B}\n".encode(), ids=("a", "b"), policy="read as line ends"),
    Case("no final newline", "nofinal.fa", f">a\n{A}\n>b\n{B}".encode(), clean=f">a\n{A}\n>b\n{B}\n".encode(),
         ids=("a", "b"), policy="the last line is read"),
    Case("UTF-8 byte-order mark", "bom.fa", b"\xef\xbb\xbf" + f">a\n{A}\n>b\n{B}\n".encode(),
         clean=f">a\n{A}\n>b\n{B}\n".encode(), ids=("a", "b"), policy="dropped"),
    Case("gzip with a byte-order mark", "bom.fa.gz", gzip.compress(b"\xef\xbb\xbf" + f">a\n{A}\n".encode()),
         clean=f">a\n{A}\n".encode(), ids=("a",), policy="dropped"),
    Case("line of only 0x85 (NEL)", "nel.fa", f">a\n{A[:120]}\n".encode() + b"\x85\n" + f"{A[120:]}\n".encode(),
         error=("nel.fa:3 (record 'a'): byte 0x85 in column 1",)),
    Case("line of only 0xa0 (no-break space)", "nbsp.fa", f">a\n{A}\n".encode() + b"\xa0\n",
         error=("nbsp.fa:3 (record 'a'): byte 0xa0 in column 1",)),
    Case("alignment gaps", "aln.fa", f">a\n{A[:30]}--{A[30:]}\n".encode(),
         error=("aln.fa:2 (record 'a'): alignment gap '-' in column 31", "remove alignment gaps")),
    Case("digits in a sequence (GenBank layout)", "digits.fa", f">a\n1 {A}\n".encode(),
         error=("digits.fa:2 (record 'a'): character '1' in column 1",)),
    Case("binary data", "binary.fa", bytes(range(256)) * 4, error=("binary.fa:1: binary data, not a FASTA file",)),
    Case("truncated gzip", "cut.fa.gz", _gzip_truncated(),
         error=("cut.fa.gz", "(record 'a'): the gzip data is truncated or corrupt", "fetch it again")),
    Case(".gz that is not gzip", "plain.fa.gz", f">a\n{A}\n".encode(),
         error=("plain.fa.gz: the name ends in .gz but the content is not gzip-compressed",)),
    Case("bzip2-compressed", "x.fa.bz2", bz2.compress(f">a\n{A}\n".encode()),
         error=("x.fa.bz2: the file is bzip2-compressed", "decompress it first")),
    Case("non-UTF-8 header", "latin1.fa", f">a caf\xe9 peak\n{A}\n".encode("latin-1"),
         clean=f">a cafe peak\n{A}\n".encode(), ids=("a",),
         policy="decoded with replacement characters and a warning; the id is the first word"),
    Case("10 kb header", "longheader.fa", f">a {'x' * 10_000}\n{A}\n>{'b' * 10_000}\n{B}\n".encode(),
         clean=f">a\n{A}\n>{'b' * 10_000}\n{B}\n".encode(), ids=("a", "b" * 10_000),
         policy="read whole: the id is the first word, however long"),
    Case("record longer than any window", "long.fa", f">a\n{C}\n".encode(), ids=("a",),
         policy="split into overlapping windows covering every base; the row is their mean", extra={"windows": 28}),
    Case("record shorter than one k-mer", "short.fa", f">a\n{A}\n>tiny\nACG\n".encode(),
         error=("short.fa:3: record 'tiny': 3 bp is shorter than one 6-mer",)),
    Case("path that does not exist", "missing.fa", kind="missing", error=("missing.fa: no such file",)),
    Case("a directory", "folder.fa", kind="directory", error=("folder.fa: is a directory",)),
    Case("unreadable file", "locked.fa", f">a\n{A}\n".encode(), kind="unreadable",
         error=("locked.fa: permission denied",)),
    Case("unknown model name", "ok.fa", f">a\n{A}\n".encode(), kind="model-name", args=("-m", "dnabert6"),
         error=("unknown model name 'dnabert6'", "did you mean", "dnallm models")),
    Case("model folder without a tokenizer", "ok.fa", f">a\n{A}\n".encode(), kind="model-no-tokenizer",
         error=("no tokenizer files", "tokenizer.save_pretrained()")),
]


def write_input(case: Case, folder: Path) -> Path:
    """Create the case's input in ``folder``; return its path."""
    path = folder / case.file
    if case.kind == "missing":
        return path
    if case.kind == "directory":
        path.mkdir()
        return path
    assert case.content is not None
    path.write_bytes(case.content)
    return path


def model_args(case: Case, folder: Path) -> list[str]:
    """The ``-m`` arguments the case needs: a copy of the demo model without its tokenizer files for
    ``model-no-tokenizer``; none for the others (the demo model is the default)."""
    if case.kind != "model-no-tokenizer":
        return []
    from dnallm.registry import DEFAULT_MODEL, get_spec

    model = folder / "model_without_tokenizer"
    model.mkdir(exist_ok=True)
    source = Path(get_spec(DEFAULT_MODEL).location)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, model / name)
    return ["-m", str(model)]
