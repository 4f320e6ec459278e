"""What lets :class:`~dnallm.io.writers.ResultWriter` continue an interrupted run: the run record next to a
partial output (``<path>.partial.json``, locked while a run writes), the check that a resumed run is the run that
wrote the partial output, and reading back the rows already written (cut to whole rows and whole records).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnallm.errors import DnallmError


def lock_file(meta: Path, path: Path) -> int:
    """Open ``meta`` and take an exclusive lock on it; fail at once when another run holds it.

    A run that ends removes ``meta`` while holding its lock; a run that opened the file just before that removal
    would lock a file no longer in the folder, so the lock counts only when the locked file is still the one at
    ``meta`` (else open again).

    Returns:
        the open file descriptor (closing it releases the lock).

    Raises:
        DnallmError: another run holds the lock.
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


def run_record(fmt: str, per_window: bool, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The description of a run, as the run record holds it (values made JSON: what reading it back gives)."""
    return {"format": fmt, "per_window": per_window, "run": json.loads(json.dumps(fingerprint, default=str))}


def write_run_record(fd: int, record: dict[str, Any]) -> None:
    """Rewrite the locked run record in place (the open descriptor holds the lock)."""
    text = json.dumps(record, indent=1, sort_keys=True, default=str).encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, text, 0)


def read_run_record(fd: int) -> Any:
    """The run record read from the locked descriptor; None when it is empty or unreadable."""
    try:
        size = os.fstat(fd).st_size
        return json.loads(os.pread(fd, size, 0).decode("utf-8")) if size else None
    except (OSError, ValueError):
        return None


def check_same_run(found: Any, wanted: dict[str, Any], partial: Path) -> str | None:
    """Whether a partial output written by the run ``found`` may be continued by the run ``wanted``.

    Returns:
        None: the same run, continue; or why it starts afresh (only the inputs' contents differ).

    Raises:
        DnallmError: a different run (model, options, format) wrote it, naming what differs.
    """
    if found == wanted:
        return None
    if _only_inputs_differ(found, wanted):
        return (f"{partial}: the input changed since these rows were written (its size or contents differ), so "
                "they may not match it; starting afresh")
    raise DnallmError(
        f"{partial}: this partial output was written by a different run ({_describe_difference(found, wanted)}); "
        "resume with the same model and options, or run without --resume to start afresh"
    )


def _only_inputs_differ(info: Any, wanted: dict) -> bool:
    """Whether a partial output's run record differs from this run's only in the inputs' contents."""
    if not isinstance(info, dict) or not isinstance(info.get("run"), dict):
        return False
    strip = lambda d: {**d, "run": {k: v for k, v in d["run"].items() if k != "inputs"}}  # noqa: E731
    return "inputs" in info["run"] and strip(info) == strip(wanted)


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


def key_columns(per_window: bool) -> list[str]:
    """The columns a resume needs from the rows already written (not the values: an embedding run's partial
    output may hold hundreds of columns per row)."""
    return ["id", "n_windows"] if per_window else ["id"]


def read_text_partial(partial: Path, fmt: str, per_window: bool) -> tuple[list[str], pd.DataFrame] | None:
    """The columns and key columns of a partial TSV, CSV or JSON Lines output, which is cut back (truncated in
    place) to whole rows, and per window to whole records; None when no whole row is left (then it is empty)."""
    data = partial.read_bytes()
    end = data.rfind(b"\n") + 1  # a kill can cut the last line anywhere
    starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(data, np.uint8, count=end) == 10) + 1])
    header = 1 if fmt in ("tsv", "csv") else 0
    if len(starts) - 1 - header <= 0:
        _truncate(partial, 0)
        return None
    text = data[:end].decode("utf-8")
    keys = key_columns(per_window)
    if fmt == "jsonl":
        columns, frame = _jsonl_keys(text, keys)
    else:
        sep = "\t" if fmt == "tsv" else ","
        columns = next(csv.reader(io.StringIO(text[: text.index("\n")]), delimiter=sep))
        frame = pd.read_csv(io.StringIO(text), sep=sep, usecols=keys, dtype={"id": str}, keep_default_na=False)
    if per_window and len(frame):
        last = frame["id"].iloc[-1]
        group = frame["id"] == last
        if group.sum() < int(frame["n_windows"].iloc[-1]):  # the last record's windows are not all there
            keep = int((~group).sum())
            frame = frame.iloc[:keep]
            end = int(starts[header + keep]) if keep else 0  # no whole record left: the header goes too
    _truncate(partial, end)
    return columns, frame


def _jsonl_keys(text: str, keys: list[str]) -> tuple[list[str], pd.DataFrame]:
    """The columns and the key columns of JSON Lines rows, read one row at a time (only the keys are kept)."""
    values: dict[str, list] = {key: [] for key in keys}
    columns: list[str] = []
    for line in text.splitlines():
        row = json.loads(line)
        columns = columns or list(row)
        for key in keys:
            values[key].append(row[key])
    return columns, pd.DataFrame(values).astype({"id": str})


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(size)
