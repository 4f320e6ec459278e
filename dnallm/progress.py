"""Progress on stderr that stays readable: a tqdm bar in a terminal; in a log file or a cluster job (stderr not
a terminal) one plain line every ``DNALLM_PROGRESS_INTERVAL`` seconds (default 10), never a flood of
carriage-return updates. The rate reads ``12.3 records/s`` when fast and ``4.5 s/record`` when slow, never
``0 records/s`` or tqdm's ``s/ records``."""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from tqdm import tqdm

#: seconds between two progress lines when stderr is not a terminal
INTERVAL_ENV = "DNALLM_PROGRESS_INTERVAL"


def readable_rate(n: float, seconds: float, unit: str) -> str:
    """``n`` items of ``unit`` (plural, e.g. "records") done in ``seconds``: per second at 1/s or more, else
    seconds per item; empty before the first item."""
    if n <= 0 or seconds <= 0:
        return ""
    rate = n / seconds
    if rate >= 1:
        return f"{rate:,.1f} {unit}/s"
    return f"{1 / rate:,.1f} s/{unit.removesuffix('s')}"


class _Lines:
    """A file for tqdm that turns each carriage-return redraw into one whole line."""

    def __init__(self, stream: IO[str]):
        self._stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip("\n").rstrip()
        if text:
            self._stream.write(text + "\n")

    def flush(self) -> None:
        self._stream.flush()


class Progress(tqdm):
    """tqdm with :func:`readable_rate`; on a non-terminal stderr, plain lines at most every interval."""

    def __init__(self, *args: Any, unit: str = "records", desc: str = "dnallm", **kwargs: Any):
        stream = kwargs.pop("file", None) or sys.stderr
        terminal = hasattr(stream, "isatty") and stream.isatty()
        if not terminal:
            interval = float(os.environ.get(INTERVAL_ENV, "10"))
            kwargs.update(file=_Lines(stream), mininterval=interval, maxinterval=max(interval, 10.0),
                          ncols=80)
        else:
            kwargs.setdefault("dynamic_ncols", True)
        kwargs["miniters"] = 0  # a redraw may show windows done inside a long record (update(0)), time-limited
        counts = "{n_fmt}/{total_fmt}" if kwargs.get("total") is not None or args else "{n_fmt}"
        kwargs.setdefault("bar_format", "{desc}: " + ("{percentage:3.0f}%|{bar:20}| " if terminal else "")
                          + counts + " " + unit + " [{elapsed}, {speed}{postfix}]")
        super().__init__(*args, unit=unit, desc=desc, **kwargs)

    @property
    def format_dict(self) -> dict[str, Any]:
        d = super().format_dict
        d["speed"] = readable_rate(d["n"] - d.get("initial", 0), d["elapsed"], self.unit) or "starting"
        return d
