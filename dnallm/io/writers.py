"""Streaming result writers: TSV, CSV, JSON Lines and Parquet, chosen by the file suffix.

Rows are written chunk by chunk as inference produces them, into ``<destination>.partial`` next to the destination,
which is renamed over it only when the run completes: a crashed or interrupted run never leaves a file that looks
whole, and what it did finish can be continued (``dnallm predict ... --resume``). Without a path, TSV goes to
standard output. Suffixes are case-insensitive; ``.tsv.gz``, ``.csv.gz`` and ``.jsonl.gz`` are written
gzip-compressed (atomically like the others, but not resumable: a gzip stream cut by a kill cannot be continued).
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

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
        if resume and self.compressed:
            raise DnallmError(
                f"{self.path}: --resume works with uncompressed output (.tsv, .csv, .jsonl, .parquet), not .gz: a "
                "gzip stream cut short cannot be continued; write uncompressed for a resumable run and compress "
                "the result afterwards, or run without --resume"
            )
        if self.path.is_dir():
            raise DnallmError(f"{self.path}: is a directory; give a file name for the results")
        parent = self.path.parent
        if not parent.is_dir():
            raise DnallmError(f"{self.path}: the folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise DnallmError(f"{self.path}: the folder {parent} is not writable by this user")
        if self.format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise DnallmError(
                    "Parquet output needs pyarrow: pip install 'dnallm[parquet]' (or write .tsv, .csv or .jsonl)"
                ) from None
        self.partial: Path | None = self.path.with_name(self.path.name + ".partial")
        self.meta: Path | None = self.path.with_name(self.path.name + ".partial.json")
        existed = self.meta.exists()
        self._lock = _lock_file(self.meta, self.path)  # one run per output at a time
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
                self._write_meta()
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
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.partial is not None
        self.partial.mkdir(exist_ok=True)
        table = pa.Table.from_pandas(pd.concat(self._pending, ignore_index=True), preserve_index=False)
        while (self.partial / f"part-{self._parts:06d}.parquet").exists():
            self._parts += 1
        final = self.partial / f"part-{self._parts:06d}.parquet"
        tmp = final.with_suffix(".tmp")
        pq.write_table(table, str(tmp))
        os.replace(tmp, final)  # a part is there whole or not at all
        self._parts += 1
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
            self._merge_parquet()
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

    def _merge_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.partial is not None and self.path is not None
        parts = sorted(self.partial.glob("part-*.parquet")) if self.partial.is_dir() else []
        tmp = self.path.with_name(f".{self.path.name}.merging")
        if not parts:
            pq.write_table(pa.table({c: [] for c in (self._columns or [])}), str(tmp))
        else:
            schema = pq.read_schema(parts[0])
            with pq.ParquetWriter(str(tmp), schema) as out:
                for part in parts:
                    out.write_table(pq.read_table(part, schema=schema))
        os.replace(tmp, self.path)
        shutil.rmtree(self.partial, ignore_errors=True)

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

    def _write_meta(self) -> None:
        """Describe the run in ``<path>.partial.json`` (rewritten in place: the open handle holds the lock)."""
        info = {"format": self.format, "per_window": self.per_window, "run": self.fingerprint}
        text = json.dumps(info, indent=1, sort_keys=True, default=str).encode("utf-8")
        os.ftruncate(self._lock, 0)
        os.pwrite(self._lock, text, 0)

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
        assert self.partial is not None and self.meta is not None
        try:
            size = os.fstat(self._lock).st_size
            info = json.loads(os.pread(self._lock, size, 0).decode("utf-8")) if size else None
        except (OSError, ValueError):
            info = None
        wanted = {"format": self.format, "per_window": self.per_window,
                  "run": json.loads(json.dumps(self.fingerprint, default=str))}
        if info != wanted and _only_inputs_differ(info, wanted):
            self.restarted = (f"{self.partial}: the input changed since these rows were written (its size or "
                              "contents differ), so they may not match it; starting afresh")
            self._remove_partial(keep_meta=True)
            return
        if info != wanted:
            raise DnallmError(
                f"{self.partial}: this partial output was written by a different run "
                f"({_describe_difference(info, wanted)}); resume with the same model and options, "
                "or run without --resume to start afresh"
            )
        if not self.partial.exists():
            return
        if self.format == "parquet":
            done = self._read_parquet_parts()
        else:
            done = self._read_text_partial()
        if done is None or done[1].empty:
            return
        self._columns, frame = done
        self.rows = self.resumed_rows = len(frame)
        self.done_ids = set(frame["id"].astype(str))

    def _key_columns(self) -> list[str]:
        """The columns a resume needs from the rows already written (not the values: an embedding run's partial
        output may hold hundreds of columns per row)."""
        return ["id", "n_windows"] if self.per_window else ["id"]

    def _read_parquet_parts(self) -> tuple[list[str], pd.DataFrame] | None:
        assert self.partial is not None
        import pyarrow.parquet as pq

        for leftover in self.partial.glob("*.tmp"):
            leftover.unlink()  # a part being written when the run was killed
        parts = sorted(self.partial.glob("part-*.parquet"))
        self._parts = len(parts)
        if not parts:
            return None
        columns = pq.read_schema(parts[0]).names
        keys = self._key_columns()
        return columns, pd.concat([pd.read_parquet(p, columns=keys) for p in parts], ignore_index=True)

    def _read_text_partial(self) -> tuple[list[str], pd.DataFrame] | None:
        """Read the key columns of the partial text file and cut it back to whole rows (and whole records, per
        window)."""
        assert self.partial is not None
        data = self.partial.read_bytes()
        end = data.rfind(b"\n") + 1  # a kill can cut the last line anywhere
        starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(data, np.uint8, count=end) == 10) + 1])
        header = 1 if self.format in ("tsv", "csv") else 0
        n_rows = max(0, len(starts) - 1 - header)
        if n_rows == 0:
            self._truncate(0)
            return None
        text = data[:end].decode("utf-8")
        keys = self._key_columns()
        if self.format == "jsonl":
            values: dict[str, list] = {key: [] for key in keys}
            columns = []
            for line in text.splitlines():  # one row at a time: only the key columns are kept
                row = json.loads(line)
                columns = columns or list(row)
                for key in keys:
                    values[key].append(row[key])
            frame = pd.DataFrame(values).astype({"id": str})
        else:
            sep = "\t" if self.format == "tsv" else ","
            columns = next(csv.reader(io.StringIO(text[: text.index("\n")]), delimiter=sep))
            frame = pd.read_csv(io.StringIO(text), sep=sep, usecols=keys, dtype={"id": str}, keep_default_na=False)
        if self.per_window and len(frame):
            last = frame["id"].iloc[-1]
            group = frame["id"] == last
            if group.sum() < int(frame["n_windows"].iloc[-1]):  # the last record's windows are not all there
                keep = int((~group).sum())
                frame = frame.iloc[:keep]
                end = int(starts[header + keep]) if keep else 0  # no whole record left: the header goes too
        self._truncate(end)
        return columns, frame

    def _truncate(self, size: int) -> None:
        assert self.partial is not None
        with open(self.partial, "r+b") as fh:
            fh.truncate(size)


def _header_line(columns: list[str], fmt: str) -> str:
    """The header row of a TSV or CSV file, quoted as pandas quotes it."""
    out = io.StringIO()
    csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n").writerow(columns)
    return out.getvalue()


def _only_inputs_differ(info: Any, wanted: dict) -> bool:
    """Whether a partial output's run record differs from this run's only in the inputs' contents."""
    if not isinstance(info, dict) or not isinstance(info.get("run"), dict):
        return False
    strip = lambda d: {**d, "run": {k: v for k, v in d["run"].items() if k != "inputs"}}  # noqa: E731
    return "inputs" in info["run"] and strip(info) == strip(wanted)


def _lock_file(meta: Path, path: Path) -> int:
    """Open ``meta`` and take an exclusive lock on it; fail at once when another run holds it.

    A run that ends removes ``meta`` while holding its lock; a run that opened the file just before that removal
    would lock a file no longer in the folder, so the lock counts only when the locked file is still the one at
    ``meta`` (else open again).
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one run per output is then the user's care
        return os.open(meta, os.O_RDWR | os.O_CREAT, 0o644)
    for _ in range(100):
        fd = os.open(meta, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DnallmError(
                f"{path}: another dnallm run is writing this output right now (it holds {meta}); wait for it to "
                "end or stop it, or write to another file"
            ) from None
        try:
            current = os.stat(meta)
        except FileNotFoundError:
            current = None
        held = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # removed or replaced since it was opened: lock the file that is there now
    raise DnallmError(f"{meta}: this file keeps being removed and created again by other runs; write elsewhere")


def _describe_difference(info: Any, wanted: dict) -> str:
    """What differs between the run that wrote a partial output and this one, key by key: ``dtype=float32;
    now dtype=bfloat16``. Long values (the model folder's files, the inputs' hashes) are named by what in them
    differs, not printed whole."""
    if not isinstance(info, dict) or not isinstance(info.get("run"), dict):
        return "no readable description"
    then = {**info["run"], "format": info.get("format"), "per_window": info.get("per_window")}
    now = {**wanted["run"], "format": wanted.get("format"), "per_window": wanted.get("per_window")}
    keys = [k for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)]
    old = ", ".join(_describe_value(k, then.get(k), now.get(k)) for k in keys)
    new = ", ".join(_describe_value(k, now.get(k), then.get(k)) for k in keys)
    return f"{old}; now {new}"


def _describe_value(key: str, value: Any, other: Any) -> str:
    text = f"{key}={value}"
    if len(text) <= 80:
        return text
    if key == "weights" and isinstance(value, list) and isinstance(other, list):
        mine = {tuple(f[:1]): f for f in value if f}
        theirs = {tuple(f[:1]): f for f in other if f}
        changed = sorted(k[0] for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        return f"weights=(the model folder's {', '.join(changed[:3])} with other sizes or times)"
    if key == "inputs" and isinstance(value, list):
        return "inputs=(" + ", ".join(str(v.get("path") or v.get("pipe")) if isinstance(v, dict) else str(v)
                                      for v in value) + " with other contents)"
    return text[:77] + "..."


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a file written by :class:`ResultWriter` back into a DataFrame (ids stay strings)."""
    fmt = format_for(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        compression = "gzip" if is_gzip(path) else None
        return pd.read_json(path, orient="records", lines=True, dtype={"id": str}, compression=compression)
    return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype={"id": str}, keep_default_na=False)


def write_npz(path: str | Path, ids: list[str], embeddings: np.ndarray) -> None:
    """Embeddings as ``.npz``, written whole or not at all (a temporary file, then renamed).

    Layout (no pickles; ``np.load(path)`` works with its default ``allow_pickle=False``):
    ``embeddings`` ``(n_records, hidden_size)`` float32; ``id_bytes`` uint8, every id's UTF-8 bytes one after
    the other; ``id_offsets`` int64 ``(n_records + 1,)``, id ``i`` is ``id_bytes[id_offsets[i]:id_offsets[i+1]]``.
    The file grows with the ids' total length (a fixed-width string array pads every id to the longest one).
    Read it back with :func:`read_npz`.
    """
    encoded = [i.encode("utf-8") for i in ids]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    path = Path(path)
    tmp = path.with_name(f"{path.name}.partial.npz")
    try:
        np.savez(tmp, embeddings=embeddings, id_bytes=blob, id_offsets=offsets)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_npz(path: str | Path) -> tuple[list[str], np.ndarray]:
    """The ids and the ``(n_records, hidden_size)`` embeddings of a ``dnallm embed -o x.npz`` file (see
    :func:`write_npz` for the layout)."""
    with np.load(path, allow_pickle=False) as saved:
        if "id_bytes" not in saved:  # written by dnallm before the id blob: a fixed-width string array
            return [str(i) for i in saved["ids"]], saved["embeddings"]
        blob = saved["id_bytes"].tobytes()
        offsets = saved["id_offsets"].tolist()
        ids = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]
        return ids, saved["embeddings"]
