"""Attention over base pairs: project token-level scores onto the bases the tokens cover.

Projection rule (every tokenizer family): a token spreads its value evenly over the bases it covers
(``value / width`` to each base); a base covered by several tokens (overlapping k-mers) takes the mean of the
contributions of the tokens that cover it. Special tokens cover no base and contribute nothing.
"""

from __future__ import annotations

import numpy as np


def project_to_bp(values: np.ndarray, spans: np.ndarray, length: int | None = None) -> np.ndarray:
    """Per-bp values from per-token values.

    Args:
        values: ``(n_tokens,)`` or ``(n_tokens, ...)`` scores, one per token.
        spans: ``(n_tokens, 2)`` bp spans ``[start, end)``; rows with ``start < 0`` (special tokens) are skipped.
        length: bp of the output (default: the largest span end).

    Returns:
        ``(length,)`` or ``(length, ...)`` float64; bases covered by no token are 0.
    """
    values = np.asarray(values, dtype=np.float64)
    spans = np.asarray(spans, dtype=np.int64)
    keep = spans[:, 0] >= 0
    values, spans = values[keep], spans[keep]
    if length is None:
        length = int(spans[:, 1].max()) if len(spans) else 0
    starts, ends = spans[:, 0], spans[:, 1]
    width = (ends - starts).reshape((-1,) + (1,) * (values.ndim - 1))
    share = values / width
    # difference arrays: +share at a token's first base, -share after its last; the running sum is the total
    # each base receives, and the same with 1s counts the tokens covering it
    total = np.zeros((length + 1,) + values.shape[1:])
    count = np.zeros(length + 1)
    np.add.at(total, starts, share)
    np.add.at(total, ends, -share)
    np.add.at(count, starts, 1)
    np.add.at(count, ends, -1)
    total = np.cumsum(total, axis=0)[:length]
    count = np.cumsum(count)[:length]
    covered = count > 0
    out = np.zeros_like(total)
    out[covered] = total[covered] / count[covered].reshape((-1,) + (1,) * (values.ndim - 1))
    return out
