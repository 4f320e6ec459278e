"""The output formats, told by a path's suffix (any case; ``.gz`` after a text suffix compresses it), and the
temporary names of outputs written whole. Imports nothing heavy: the CLI builds its help and checks from here."""

from __future__ import annotations

from pathlib import Path

from dnallm.errors import DnallmError

FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def is_gzip(path: str | Path | None) -> bool:
    """Whether an output path asks for gzip-compressed text (``.tsv.gz``, ``.csv.gz``, ``.jsonl.gz``, any case)."""
    return path is not None and str(path) != "-" and str(path).lower().endswith(".gz")


def format_for(path: str | Path | None) -> str:
    """The output format a path asks for (suffix in any case; ``.gz`` after a text suffix compresses it);
    standard output is TSV."""
    if path is None or str(path) == "-":
        return "tsv"
    name = Path(path)
    if is_gzip(path):
        name = name.with_suffix("")
        if FORMATS.get(name.suffix.lower()) == "parquet":
            raise DnallmError(f"{path}: Parquet is compressed already; write {name.name} (without .gz)")
        if name.suffix.lower() not in FORMATS:
            raise DnallmError(f"{path}: unknown output format '{name.suffix or '(none)'}.gz'; gzip works for "
                              ".tsv.gz, .csv.gz and .jsonl.gz")
    suffix = name.suffix.lower()
    if suffix not in FORMATS:
        raise DnallmError(
            f"{path}: unknown output format '{suffix or '(none)'}'; use one of {', '.join(sorted(FORMATS))} "
            "(text formats also as .gz)"
        )
    return FORMATS[suffix]


def npz_partial(path: str | Path) -> Path:
    """The temporary file :func:`dnallm.io.atomic.write_npz` writes before renaming it to ``path``."""
    path = Path(path)
    return path.with_name(f"{path.name}.partial.npz")
