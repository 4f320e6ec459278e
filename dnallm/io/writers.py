"""Streaming result writers: TSV, CSV, JSON Lines and Parquet, chosen by the file suffix.

Rows are written chunk by chunk as inference produces them, into ``<destination>.partial`` next to the destination,
which is renamed over it only when the run completes: a crashed or interrupted run never leaves a file that looks
whole, and what it did finish can be continued (``dnallm predict ... --resume``). Without a path, TSV goes to
standard output. Suffixes are case-insensitive; ``.tsv.gz``, ``.csv.gz`` and ``.jsonl.gz`` are written
gzip-compressed (atomically like the others, but not resumable: a gzip stream cut by a kill cannot be continued).

The formats are named in :mod:`dnallm.io.formats`; the run record, its lock and the reading back of a partial
output in :mod:`dnallm.io.resume`; Parquet's part files in :mod:`dnallm.io.parquet`.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any

import pandas as pd

from dnallm.errors import DnallmError
from dnallm.io import parquet
from dnallm.io.atomic import read_npz, write_npz
from dnallm.io.formats import FORMATS, format_for, is_gzip
from dnallm.io.paths import check_file_target
from dnallm.io.resume import (
    check_same_run,
    key_columns,
    lock_file,
    read_run_record,
    read_text_partial,
    run_record,
    write_run_record,
)

__all__ = ["FORMATS", "ResultWriter", "format_for", "is_gzip", "read_npz", "read_results", "write_npz"]

def _no_space(exc: BaseException) -> bool:
    """Whether an error means that the disk (or device) being written is full."""
    return isinstance(exc, OSError) and (exc.errno == errno.ENOSPC or "No space left on device" in str(exc))


class ResultWriter:
    """Write DataFrame chunks with the same columns to one file (or stdout), atomically and resumably.

    Rows go to ``<path>.partial`` as they come (TSV, CSV and JSON Lines: appended and flushed chunk by chunk;
    Parquet: a folder of part files, each written whole and renamed into place), with ``<path>.partial.json``
    describing the run. :meth:`close` moves the result to ``path`` only when the run is complete, so a file under
    the destination's name is always whole. After an interruption the partial output stays: a writer opened with
    ``resume=True`` reads it, drops a row cut in half by a kill, and exposes the ids already done in
    :attr:`done_ids` so that only the rest is computed.

    Args:
        path: destination (format from the suffix), or None / ``"-"`` for TSV on standard output.
        float_format: printf-style format of floats in text formats (default: full precision).
        resume: continue ``<path>.partial`` if it exists (else start afresh).
        fingerprint: what the run was (model, options); a partial output written with another fingerprint is
            not resumed.
        per_window: rows are windows: a record is done when all its ``n_windows`` rows are there.
    """

    PARQUET_PART_ROWS = 2048

    def __init__(
        self,
        path: str | Path | None,
        float_format: str | None = None,
        *,
        resume: bool = False,
        fingerprint: dict[str, Any] | None = None,
        per_window: bool = False,
    ):
        self.path = None if path is None or str(path) == "-" else Path(path)
        self.format = format_for(path)
        self.compressed = is_gzip(path)
        # the columns of a run that writes no row (every record skipped): the file still gets its header
        self.columns_if_empty: list[str] | None = None
        self.float_format = float_format
        self.fingerprint = dict(fingerprint or {})
        self.per_window = per_window
        self.rows = 0
        self.resumed_rows = 0
        self.done_ids: set[str] = set()
        self.complete_already = False
        self.restarted: str | None = None  # why a resume started afresh (the input changed), for the CLI to say
        self._columns: list[str] | None = None
        self._handle: IO[str] | None = None
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0
        self._parts = 0
        self._closed = False
        if self.path is None:
            if resume:
                raise DnallmError("--resume needs an output file (-o FILE): standard output cannot be continued")
            self.partial = self.meta = None
            return
        _check_destination(self.path, self.format, self.compressed, resume)
        self.partial: Path | None = self.path.with_name(self.path.name + ".partial")
        self.meta: Path | None = self.path.with_name(self.path.name + ".partial.json")
        self._open_partial(resume)

    def _open_partial(self, resume: bool) -> None:
        """Take the lock on the run record; continue a partial output (``resume``) or clear it for a fresh run."""
        assert self.partial is not None and self.meta is not None and self.path is not None
        existed = self.meta.exists()
        self._lock = lock_file(self.meta, self.path)  # one run per output at a time
        try:
            if resume and (self.partial.exists() or existed):
                self._load_partial()
            else:
                if resume and self.path.exists():
                    self.complete_already = True
                self._remove_partial(keep_meta=True)
            if self.complete_already:  # nothing to write: leave no lock file that a later --resume would read
                self._unlock(remove=True)
            else:
                write_run_record(self._lock, self._run_record())
        except BaseException:
            self._unlock(remove=not existed)
            raise

    # -- context manager ----------------------------------------------------------------------------------------

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- writing ------------------------------------------------------------------------------------------------

    def write(self, frame: pd.DataFrame) -> None:
        """Append rows; the first chunk fixes the columns."""
        try:
            self._write(frame)
        except OSError as exc:
            if not _no_space(exc):
                raise
            raise self._full_error() from None

    def _full_error(self, kept: bool = False) -> DnallmError:
        """The message of a full disk; ``kept``: name the rows kept for --resume (where no caller adds them)."""
        if self.path is None:
            return DnallmError(
                "standard output: no space left on device (the disk or device that standard output goes to is "
                "full); free space there, or write to a file with -o FILE (which --resume can continue)"
            )
        where = f"{self.path.name}.partial" if self.partial is None else str(self.partial)
        message = (f"{where}: no space left on device writing the results (the disk holding "
                   f"{os.path.abspath(self.path.parent)} is full); free space there, or write elsewhere")
        if self.compressed:
            message += ", and run again (compressed output cannot be resumed)"
        elif kept and self.rows:
            message += f"; {self.rows:,} rows are kept in {self.partial}: add --resume to continue"
        return DnallmError(message)

    def _write(self, frame: pd.DataFrame) -> None:
        if self._columns is None:
            self._columns = list(frame.columns)
        elif list(frame.columns) != self._columns:
            raise ValueError(f"columns changed between chunks: {list(frame.columns)} vs {self._columns}")
        if self.format == "parquet":
            self._pending.append(frame)
            self._pending_rows += len(frame)
            if self._pending_rows >= self.PARQUET_PART_ROWS:
                self._flush_parquet()
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
            if self.path is None:
                self._handle = sys.stdout
            else:
                assert self.partial is not None
                if self.compressed:
                    self._handle = gzip.open(self.partial, "at", encoding="utf-8", newline="")
                else:
                    self._handle = open(self.partial, "a", encoding="utf-8", newline="")
        return self._handle

    def _flush_parquet(self) -> None:
        if not self._pending:
            return
        assert self.partial is not None
        self._parts = parquet.write_part(self.partial, self._pending, self._parts)
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        """Finish the file and move it into place (the run is complete)."""
        if self._closed:
            return
        if self.rows == 0 and self._columns is None and self.columns_if_empty is not None:
            self._columns = list(self.columns_if_empty)
            if self.format in ("tsv", "csv"):  # no row: the header alone (an empty .jsonl is valid JSON Lines)
                try:
                    self._text_handle().write(_header_line(self._columns, self.format))
                except OSError as exc:
                    if not _no_space(exc):
                        raise
                    self.abort()
                    raise self._full_error() from None
        try:
            self._close()
        except OSError as exc:
            if not _no_space(exc):
                raise
            self._closed = False
            self.abort()
            raise self._full_error(kept=True) from None

    def _close(self) -> None:
        self._closed = True
        if self.path is None:
            if self._handle is not None:
                self._handle.flush()
            return
        assert self.partial is not None and self.meta is not None
        if self.format == "parquet":
            self._flush_parquet()
            parquet.merge_parts(self.partial, self.path, self._columns or [])
        else:
            if self._handle is not None:
                self._handle.close()  # flushes (and ends the gzip stream)
                with open(self.partial, "rb") as fh:
                    os.fsync(fh.fileno())
            elif not self.partial.exists():
                if self.compressed:
                    with gzip.open(self.partial, "wb"):
                        pass
                else:
                    self.partial.touch()
            os.replace(self.partial, self.path)
        self._unlock(remove=True)

    def abort(self) -> None:
        """The run stopped early: keep what is done for ``resume=True`` (nothing at the destination's name)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.format == "parquet" and self.path is not None:
                self._flush_parquet()
        except OSError as exc:  # a full disk: the part being written is dropped, the ones before stay
            if not _no_space(exc):
                raise
        if self._handle is not None and self._handle is not sys.stdout:
            try:
                self._handle.close()  # flushes what is buffered
            except OSError as exc:  # a full disk: what reached the file stays; resume drops a cut last row
                if not _no_space(exc):
                    raise
        if self.path is not None:
            if self.rows == 0 or self.compressed:  # a cut gzip stream cannot be continued: nothing to keep
                self._remove_partial()
                if self.compressed:
                    self.partial = None  # nothing for --resume
            else:
                self._unlock(remove=False)

    # -- resuming -----------------------------------------------------------------------------------------------

    def discard(self) -> None:
        """Remove the partial output and its record (a run that cannot be resumed keeps nothing)."""
        self._closed = True
        if self._handle is not None and self._handle is not sys.stdout:
            self._handle.close()
        self._remove_partial()

    def _unlock(self, remove: bool) -> None:
        if remove and self.meta is not None:
            self.meta.unlink(missing_ok=True)
        if getattr(self, "_lock", None) is not None:
            os.close(self._lock)  # closing releases the lock
            self._lock = None

    def _remove_partial(self, keep_meta: bool = False) -> None:
        if self.partial is None or self.meta is None:
            return
        if self.partial.is_dir():
            shutil.rmtree(self.partial, ignore_errors=True)
        else:
            self.partial.unlink(missing_ok=True)
        if not keep_meta:
            self._unlock(remove=True)

    def _load_partial(self) -> None:
        """Continue the partial output if the run that wrote it is this one (else start afresh or refuse)."""
        assert self.partial is not None
        self.restarted = check_same_run(read_run_record(self._lock), self._run_record(), self.partial)
        if self.restarted is not None:
            self._remove_partial(keep_meta=True)
            return
        if not self.partial.exists():
            return
        if self.format == "parquet":
            done = parquet.read_parts(self.partial, key_columns(self.per_window))
            if done is not None:
                self._parts = done[2]
        else:
            done = read_text_partial(self.partial, self.format, self.per_window)
        if done is None or done[1].empty:
            return
        self._columns, frame = done[0], done[1]
        self.rows = self.resumed_rows = len(frame)
        self.done_ids = set(frame["id"].astype(str))

    def _run_record(self) -> dict[str, Any]:
        return run_record(self.format, self.per_window, self.fingerprint)


def _check_destination(path: Path, fmt: str, compressed: bool, resume: bool) -> None:
    """Before anything is written: ``path`` can take the results (and ``resume`` can continue them).

    Raises:
        DnallmError: resuming compressed output, ``path`` is a folder, its folder is missing or not writable,
            or Parquet without pyarrow.
    """
    if resume and compressed:
        raise DnallmError(
            f"{path}: --resume works with uncompressed output (.tsv, .csv, .jsonl, .parquet), not .gz: a gzip "
            "stream cut short cannot be continued; write uncompressed for a resumable run and compress the result "
            "afterwards, or run without --resume"
        )
    check_file_target(path, str(path))
    if fmt == "parquet":
        parquet.check_pyarrow()


def _header_line(columns: list[str], fmt: str) -> str:
    """The header row of a TSV or CSV file, quoted as pandas quotes it."""
    out = io.StringIO()
    csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n").writerow(columns)
    return out.getvalue()


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a file written by :class:`ResultWriter` back into a DataFrame (ids stay strings)."""
    fmt = format_for(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        compression = "gzip" if is_gzip(path) else None
        return pd.read_json(path, orient="records", lines=True, dtype={"id": str}, compression=compression)
    return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype={"id": str}, keep_default_na=False)
