"""bigWig tracks of per-bp values with pyBigWig (the ``bigwig`` extra), written whole or not at all.

A bigWig holds each chromosome's size in its header and its entries sorted by chromosome, then start, none
overlapping. The sizes written here: a chromosome's largest end among the tracks placed on it (a record named
after its genome interval ``chrom:start-end`` on ``chrom``; any other record on a chromosome of its own id,
from 0, so its size is its length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnallm.errors import DnallmError
from dnallm.io.atomic import equal_runs, replaced


@dataclass
class Track:
    """Per-bp ``values`` of record ``record_id``, placed on ``chrom`` from bp ``start`` (0-based)."""

    record_id: str
    chrom: str
    start: int
    values: np.ndarray

    @property
    def end(self) -> int:
        return self.start + len(self.values)


def _pybigwig():
    try:
        import pyBigWig
    except ImportError:
        raise DnallmError("writing .bw needs pyBigWig, which is not installed: pip install 'dnallm[bigwig]' "
                          "(or write .npz / .bedgraph)") from None
    return pyBigWig


def sorted_tracks(tracks: Sequence[Track], path: str | Path) -> list[Track]:
    """``tracks`` sorted by chromosome, then start; two that overlap on one chromosome are refused.

    Raises:
        DnallmError: naming both records and the way out (.npz or .bedgraph keep every record).
    """
    ordered = sorted((t for t in tracks if len(t.values)), key=lambda t: (t.chrom, t.start))
    for before, after in zip(ordered, ordered[1:]):
        if before.chrom == after.chrom and after.start < before.end:
            raise DnallmError(
                f"{path}: records '{before.record_id}' and '{after.record_id}' overlap on {before.chrom} "
                f"({before.start:,}-{before.end:,} and {after.start:,}-{after.end:,}), which one bigWig cannot "
                f"hold; write .npz or .bedgraph instead")
    return ordered


def chrom_sizes(tracks: Sequence[Track]) -> list[tuple[str, int]]:
    """``(chrom, size)`` of every chromosome in ``tracks`` (sorted tracks: in their order): its largest end."""
    sizes: dict[str, int] = {}
    for t in tracks:
        sizes[t.chrom] = max(sizes.get(t.chrom, 0), t.end)
    return list(sizes.items())


def write_bigwig(path: str | Path, tracks: Sequence[Track]) -> None:
    """A bigWig of ``tracks`` (any order), one entry per run of equal values, into a temporary file next to
    ``path`` renamed over it once complete.

    Raises:
        DnallmError: pyBigWig missing, no values at all, or two tracks overlapping on one chromosome.
    """
    pyBigWig = _pybigwig()
    ordered = sorted_tracks(tracks, path)
    if not ordered:
        raise DnallmError(f"{path}: no record has scores, and a bigWig cannot be empty; write .npz or .bedgraph")
    target = Path(path)
    with replaced(target, target.with_name(f".{target.name}.partial")) as tmp:
        out = pyBigWig.open(str(tmp), "w")
        if out is None:
            raise DnallmError(f"{path}: pyBigWig could not open {tmp} for writing")
        try:
            out.addHeader(chrom_sizes(ordered))
            for t in ordered:
                values = np.asarray(t.values, dtype=np.float64)
                starts, ends = equal_runs(values)
                out.addEntries([t.chrom] * len(starts), (starts + t.start).tolist(),
                               ends=(ends + t.start).tolist(), values=values[starts].tolist())
        finally:
            out.close()
