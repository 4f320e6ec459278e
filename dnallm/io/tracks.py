"""Genome tracks of interval scores, streamed: the per-bp mean of overlapping intervals, then bedGraph or bigWig
files written whole or not at all.

A bedGraph or bigWig never holds overlapping intervals. Scores of intervals that overlap (tiles with a step
shorter than their width, overlapping BED regions) become runs of bases, each with the mean of the intervals
covering it (:class:`CoveringMean`); bases no interval covers get no entry. Equal neighbours are merged into one
entry (compared as the float32 the files store).
"""

from __future__ import annotations

import heapq
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from dnallm.errors import DnallmError

logger = logging.getLogger(__name__)
#: bigWig entries are handed to pyBigWig this many at a time
FLUSH = 1 << 16


class CoveringMean:
    """The per-bp mean of the intervals of one chromosome, given in order of start (ends in any order).

    :meth:`add` and :meth:`close` yield ``(start, end, values)`` runs, in order and never overlapping; ``values``
    (``dim``,) float64 is the mean of the intervals covering every base of the run.
    """

    def __init__(self) -> None:
        self._active: list[tuple[int, int, np.ndarray]] = []  # heap of (end, order, values)
        self._pos = -1
        self._order = 0
        self._last_start = -1

    def add(self, start: int, end: int, values: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        if start < self._last_start:
            raise ValueError(f"intervals out of order: start {start} after {self._last_start}")
        self._last_start = start
        yield from self._until(start)
        if not self._active or self._pos < start:
            self._pos = start
        heapq.heappush(self._active, (end, self._order, np.asarray(values, dtype=np.float64)))
        self._order += 1

    def close(self) -> Iterator[tuple[int, int, np.ndarray]]:
        yield from self._until(None)

    def _until(self, limit: int | None) -> Iterator[tuple[int, int, np.ndarray]]:
        """The runs before ``limit`` (None: all), dropping the intervals that end there."""
        while self._active and (limit is None or self._pos < limit):
            stop = self._active[0][0] if limit is None else min(self._active[0][0], limit)
            if stop > self._pos:
                yield self._pos, stop, np.mean([v for _, _, v in self._active], axis=0)
                self._pos = stop
            while self._active and self._active[0][0] <= self._pos:
                heapq.heappop(self._active)


def _pybigwig():
    try:
        import pyBigWig
    except ImportError:
        raise DnallmError("writing .bw needs pyBigWig, which is not installed: pip install 'dnallm[bigwig]' "
                          "(or write .bedgraph)") from None
    return pyBigWig


#: a record id naming its genome interval: chrom:start-end, optionally with the strand as bedtools writes it
COORDINATES = re.compile(r"^(?:.*::)?(?P<chrom>.+):(?P<start>\d[\d,]*)-(?P<end>\d[\d,]*)(?:\((?P<strand>[+-])\))?$")


def genome_position(record_id: str, length: int) -> tuple[str, int, bool]:
    """``(chrom, start, reverse)`` of a record's per-bp values on the genome: from an id ``chrom:start-end``,
    ``chrom:start-end(+)`` or ``chrom:start-end(-)`` (as ``bedtools getfasta [-s]`` and ``dnallm scan`` name
    them; a ``name::`` before it, as ``getfasta -name`` writes, is passed over) that spans ``length`` bp; ``reverse`` for ``(-)``: the record is the interval's reverse complement, so
    its values go onto the genome last first. Any other id: ``(record_id, 0, False)``."""
    match = COORDINATES.match(record_id)
    if match:
        start, end = (int(match[key].replace(",", "")) for key in ("start", "end"))
        if end - start == length:
            return match["chrom"], start, match["strand"] == "-"
        logger.warning("record '%s' is %d bp, not the %d bp its id names: placed from 0 on its own name",
                       record_id, length, end - start)
    return record_id, 0, False


TRACK_SUFFIXES = (".bw", ".bigwig", ".bedgraph", ".bg")


def is_track(path: str | Path | None) -> bool:
    return path is not None and str(path).lower().endswith(TRACK_SUFFIXES)


def track_paths(path: str | Path, columns: Sequence[str]) -> dict[str, Path]:
    """The file of each column's track: ``path`` itself for one column, else the column's name before the
    suffix (``scan.bw`` -> ``scan.Oct4.bw``, characters other than letters, digits, ``. _ -`` as ``_``)."""
    path = Path(path)
    if len(columns) == 1:
        return {columns[0]: path}
    paths = {c: path.with_name(f"{path.stem}.{re.sub(r'[^A-Za-z0-9._-]', '_', c)}{path.suffix}") for c in columns}
    named = {}
    for column, target in paths.items():
        if target in named:
            raise DnallmError(f"{path}: the outputs '{named[target]}' and '{column}' would both be written to "
                              f"{target.name}; write one of them with --label")
        named[target] = column
    return paths


class TrackFile:
    """One track (bedGraph or bigWig by the suffix of ``path``) written into a temporary file next to it,
    renamed over it by :meth:`finish` then :meth:`commit`; entries must come in the order of ``sizes`` (chromosome, then start).

    Args:
        sizes: ``(chrom, length)`` of every chromosome of the genome, in its order (the bigWig header).
        name, description: the track line of a bedGraph (``name="..." description="..."``).
    """

    def __init__(self, path: str | Path, sizes: Sequence[tuple[str, int]], name: str, description: str):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial")
        self.bigwig = self.path.suffix.lower() in (".bw", ".bigwig")
        self.entries = 0
        self._run: list = []  # the run not written yet: [chrom, start, end, float32 value]
        self._buffer: tuple[list, list, list, list] = ([], [], [], [])
        if self.bigwig:
            pyBigWig = _pybigwig()
            self._out = pyBigWig.open(str(self.tmp), "w")
            if self._out is None:
                raise DnallmError(f"{self.path}: pyBigWig could not open {self.tmp} for writing")
            self._out.addHeader([(c, int(n)) for c, n in sizes])
        else:
            self._out = open(self.tmp, "w", encoding="utf-8")
            self._out.write(f'track type=bedGraph name="{name}" description="{description}"\n')

    def add(self, chrom: str, start: int, end: int, value: float) -> None:
        value = np.float32(value)
        run = self._run
        if run and run[0] == chrom and run[2] == start and (run[3] == value or (value != value and run[3] != run[3])):
            run[2] = end
            return
        if run:
            self._emit(*run)
        self._run = [chrom, start, end, value]

    def _emit(self, chrom: str, start: int, end: int, value: np.float32) -> None:
        self.entries += 1
        if not self.bigwig:
            self._out.write(f"{chrom}\t{start}\t{end}\t{str(value)}\n")  # float32's shortest text
            return
        for column, item in zip(self._buffer, (chrom, start, end, float(value))):
            column.append(item)
        if len(self._buffer[0]) >= FLUSH:
            self._flush()

    def _flush(self) -> None:
        chroms, starts, ends, values = self._buffer
        if chroms:
            self._out.addEntries(chroms, starts, ends=ends, values=values)
        self._buffer = ([], [], [], [])

    def finish(self) -> None:
        """Write what is left and close the temporary file (:meth:`commit` moves it to its name)."""
        if self._run:
            self._emit(*self._run)
            self._run = []
        if self.bigwig:
            self._flush()
        self._out.close()
        if self.bigwig and not self.entries:
            raise DnallmError(f"{self.path}: no interval was scored, and a bigWig cannot be empty (see the "
                              "skipped list); write .bedgraph or a table")

    def commit(self) -> None:
        self.tmp.replace(self.path)

    def abort(self) -> None:
        """Stop and leave no file."""
        try:
            self._out.close()
        except Exception:  # noqa: S110 - closing twice or after a failed write: the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)
