"""Streaming result writers: TSV, CSV, JSON Lines and Parquet, chosen by the file suffix.

Rows are written chunk by chunk as inference produces them, into a temporary file next to the destination that
is renamed over it only when the run completes: a crashed or interrupted run never leaves a file that looks
whole. Without a path, TSV goes to standard output.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import pandas as pd

from dnallm.errors import DnallmError

FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def format_for(path: str | Path | None) -> str:
    """The output format a path asks for; standard output is TSV."""
    if path is None or str(path) == "-":
        return "tsv"
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DnallmError(
            f"{path}: unknown output format '{suffix or '(none)'}'; use one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[suffix]


class ResultWriter:
    """Write DataFrame chunks with the same columns to one file (or stdout), atomically.

    Use as a context manager: the file appears under its name when the block ends without an exception, and the
    temporary file is removed when it ends with one.
    """

    def __init__(self, path: str | Path | None, float_format: str | None = None):
        self.path = None if path is None or str(path) == "-" else Path(path)
        self.format = format_for(path)
        self.float_format = float_format
        self.rows = 0
        self._columns: list[str] | None = None
        self._tmp: Path | None = None
        self._handle: IO[str] | None = None
        self._parquet: Any = None
        if self.path is not None:
            if self.path.is_dir():
                raise DnallmError(f"{self.path}: is a directory; give a file name for the results")
            parent = self.path.parent
            if not parent.is_dir():
                raise DnallmError(f"{self.path}: the folder {parent} does not exist")
            if self.format == "parquet":
                try:
                    import pyarrow  # noqa: F401
                except ImportError:
                    raise DnallmError(
                        "Parquet output needs pyarrow: pip install 'dnallm[parquet]' (or write .tsv, .csv or .jsonl)"
                    ) from None
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=parent)
            os.close(fd)
            self._tmp = Path(tmp)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: pd.DataFrame) -> None:
        """Append rows; the first chunk fixes the columns."""
        if self._columns is None:
            self._columns = list(frame.columns)
        elif list(frame.columns) != self._columns:
            raise ValueError(f"columns changed between chunks: {list(frame.columns)} vs {self._columns}")
        if self.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self._tmp), table.schema)
            self._parquet.write_table(table)
        else:
            handle = self._text_handle()
            if self.format == "jsonl":
                text = frame.to_json(orient="records", lines=True)  # 10 decimals: more than float32 holds
                handle.write(text if text.endswith("\n") or not text else text + "\n")
            else:
                frame.to_csv(
                    handle,
                    sep="\t" if self.format == "tsv" else ",",
                    index=False,
                    header=self.rows == 0,
                    float_format=self.float_format,
                    lineterminator="\n",
                )
            handle.flush()
        self.rows += len(frame)

    def _text_handle(self) -> IO[str]:
        if self._handle is None:
            self._handle = sys.stdout if self.path is None else open(self._tmp, "w", encoding="utf-8", newline="")
        return self._handle

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._parquet is not None:
            self._parquet.close()
        elif self.format == "parquet" and self._tmp is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({c: [] for c in (self._columns or [])}), str(self._tmp))
        if self._handle is not None and self._handle is not sys.stdout:
            self._handle.close()
        if self._tmp is not None:
            os.replace(self._tmp, self.path)
            self._tmp = None

    def abort(self) -> None:
        """Drop the partial output."""
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None and self._handle is not sys.stdout:
            self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a file written by :class:`ResultWriter` back into a DataFrame (ids stay strings)."""
    fmt = format_for(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, orient="records", lines=True, dtype={"id": str})
    return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype={"id": str}, keep_default_na=False)
