"""Output files written whole or not at all: a temporary name next to the target, renamed over it once
complete (an error or a kill leaves the previous file, or none, never half a file). bedGraph tracks, ``.npz``
embeddings and figures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dnallm.io.formats import npz_partial


@contextmanager
def replaced(path: str | Path, tmp: str | Path) -> Iterator[Path]:
    """Give ``tmp`` to write; once the block ends without an error, rename it over ``path``; remove it on any
    error (the exception goes on)."""
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def equal_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` int64 of the runs of equal neighbours in ``values`` (half-open, in positions): how
    bedGraph and bigWig tracks store per-bp values."""
    change = np.flatnonzero(np.diff(values) != 0) + 1
    return (np.concatenate([[0], change]).astype(np.int64),
            np.concatenate([change, [len(values)]]).astype(np.int64))


def write_bedgraph(path: str, chrom: str, values: Sequence[float] | np.ndarray, name: str, start: int = 0) -> None:
    """bedGraph of per-bp values from bp ``start`` of ``chrom``, 0-based, equal neighbours merged.

    Args:
        path: the ``.bedgraph`` file; written into ``PATH.partial`` next to it, renamed over ``path`` once
            complete.
        chrom: the chromosome column (the record id, or the chromosome its id names).
        values: one value per bp.
        name: the track's name in its header line.
        start: the bp coordinate of ``values[0]``.
    """
    values = np.asarray(values, dtype=np.float64)
    starts, ends = equal_runs(values)
    with replaced(path, f"{path}.partial") as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(f'track type=bedGraph name="{name}" description="dnallm attention received per bp"\n')
        for lo, hi in zip(starts, ends):
            out.write(f"{chrom}\t{start + lo}\t{start + hi}\t{values[lo]:.6g}\n")


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
    with replaced(path, npz_partial(path)) as tmp:
        np.savez(tmp, embeddings=embeddings, id_bytes=blob, id_offsets=offsets)


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


def save_figure(fig: Any, path: str | Path, dpi: int = 150) -> None:
    """A matplotlib figure saved whole or not at all (into a hidden temporary name next to ``path``, then
    renamed); the format comes from the suffix (``.png``, ``.pdf``, ``.svg``)."""
    target = Path(path)
    with replaced(target, target.with_name(f".{target.name}.partial{target.suffix}")) as tmp:
        fig.savefig(tmp, dpi=dpi, format=target.suffix.lstrip(".").lower())
