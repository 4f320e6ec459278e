"""Result tables: one row per record (or per window) in input order, the record's id first."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from dnallm.runner import Chunk


def frame(chunk: Chunk, columns: list[str], values: np.ndarray, per_window: bool) -> pd.DataFrame:
    """A chunk's rows: ``id``, ``length``, ``n_windows`` (with ``per_window``: ``window``, ``start``, ``end``
    and one row per window), then ``values`` under ``columns``."""
    counts = chunk.counts
    frame = pd.DataFrame(values, columns=columns)
    ids, lengths = [r.id for r in chunk.records], [len(r) for r in chunk.records]
    if per_window:
        flat = chunk.flat
        frame.insert(0, "end", [w.end for w in flat])
        frame.insert(0, "start", [w.start for w in flat])
        frame.insert(0, "window", [w.window for w in flat])
        ids = [i for i, n in zip(ids, counts) for _ in range(n)]
        lengths, counts = np.repeat(lengths, counts), np.repeat(counts, counts)
    frame.insert(0, "n_windows", counts)
    frame.insert(0, "length", np.asarray(lengths, dtype=np.int64))
    frame.insert(0, "id", ids)
    return frame


def empty_frame(columns: list[str], value_columns: list[str]) -> pd.DataFrame:
    """A table of no rows with the columns and dtypes of a result: ``id`` text, ``value_columns`` float32, the
    rest (``length``, ``n_windows``, ``window``, ``start``, ``end``) int64."""
    return pd.DataFrame({c: pd.Series(dtype=object if c == "id" else np.float32 if c in value_columns else np.int64)
                         for c in columns})


def embeddings(frames: Iterable[pd.DataFrame], hidden_size: int) -> tuple[list[str], np.ndarray]:
    """The ids and the ``(n, hidden_size)`` float32 vectors of embedding frames (``id length n_windows dim_*``)."""
    frames = list(frames)
    vectors = [f.iloc[:, 3:].to_numpy(np.float32) for f in frames]
    return ([i for f in frames for i in f["id"]],
            np.concatenate(vectors) if vectors else np.zeros((0, hidden_size), np.float32))
