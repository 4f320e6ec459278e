"""Attention over base pairs: project token attention onto bases; refuse a map that cannot fit in memory.

The forward pass that captures the weights is :mod:`dnallm.attention_capture`.

Projection rule (every tokenizer family): a token spreads its weight evenly over the bases it covers
(``weight / width`` to each base); a base covered by several tokens (overlapping k-mers) takes the mean of the
contributions of the tokens that cover it. Special tokens cover no base and contribute nothing. With ``P`` the
``(bases x tokens)`` matrix of this rule, a per-token vector ``v`` becomes the per-bp ``P v`` and a token
attention matrix ``A`` (queries x keys) becomes the bp x bp matrix ``P A P^T`` (query bases x key bases). Long
windows are binned: a bin's row of ``P`` is the mean of its bases' rows.

The per-bp **track** is the attention each base *receives*: the row of the first token (``[CLS]``/``<cls>``)
when the tokenizer adds one (``query="cls"``), else the mean over the rows of all sequence tokens
(``query="mean"``); projected with ``P``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dnallm.errors import DnallmError

logger = logging.getLogger(__name__)


def project_to_bp(values: np.ndarray, spans: np.ndarray, length: int | None = None, offset: int = 0) -> np.ndarray:
    """Per-bp values from per-token values (the rule of this module), without building ``P``.

    Args:
        values: ``(n_tokens,)`` or ``(n_tokens, ...)`` scores, one per token.
        spans: ``(n_tokens, 2)`` bp spans ``[start, end)``; rows with ``start < 0`` (special tokens) are skipped.
        length: bp of the output (default: the largest span end minus ``offset``).
        offset: bp of the output's first base (spans are in record coordinates, the output starts here).

    Returns:
        ``(length,)`` or ``(length, ...)`` float64; bases covered by no token are 0.
    """
    values = np.asarray(values, dtype=np.float64)
    spans = np.asarray(spans, dtype=np.int64)
    keep = spans[:, 0] >= 0
    values, spans = values[keep], spans[keep] - offset
    if length is None:
        length = int(spans[:, 1].max()) if len(spans) else 0
    starts, ends = spans[:, 0], spans[:, 1]
    shape = (-1,) + (1,) * (values.ndim - 1)
    share = values / (ends - starts).reshape(shape)
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
    out[covered] = total[covered] / count[covered].reshape(shape)
    return out


def projection_matrix(spans: np.ndarray, start: int, end: int, bin_size: int = 1) -> np.ndarray:
    """``P``: ``(n_bins, n_tokens)``, row b = the mean over the bases of bin b of each base's token weights.

    Bins are ``[start + b * bin_size, start + (b + 1) * bin_size)`` in record bp, the last one cut at ``end``.
    """
    spans = np.asarray(spans, dtype=np.int64)
    n_tokens = len(spans)
    length = end - start
    n_bins = -(-length // bin_size)
    token = np.flatnonzero(spans[:, 0] >= 0)
    lo = np.clip(spans[token, 0], start, end)
    hi = np.clip(spans[token, 1], start, end)
    width = spans[token, 1] - spans[token, 0]
    keep = hi > lo
    token, lo, hi, width = token[keep], lo[keep], hi[keep], width[keep]
    # every (base, token) pair with the base inside the token's span, as flat arrays
    sizes = hi - lo
    pair_token = np.repeat(token, sizes)
    pair_width = np.repeat(width, sizes)
    first = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    pair_base = first + np.arange(sizes.sum()) - start
    coverage = np.bincount(pair_base, minlength=length)
    weight = 1.0 / (pair_width * coverage[pair_base])
    matrix = np.zeros((n_bins, n_tokens))
    np.add.at(matrix, (pair_base // bin_size, pair_token), weight)
    bases_per_bin = np.full(n_bins, bin_size, dtype=np.float64)
    bases_per_bin[-1] = length - (n_bins - 1) * bin_size
    return matrix / bases_per_bin[:, None]


def bin_size_for(length: int, max_bins: int) -> int:
    """The smallest bin (bp) that shows ``length`` bp in at most ``max_bins`` bins."""
    return max(1, -(-length // max_bins))


@dataclass(eq=False)
class AttentionMap:
    """Attention of chosen layers over one window of one record, at token level and projected onto bp.

    Attributes:
        record_id: the record.
        window, n_windows: which window of the record this is, 0-based (0 of 1 for a record that fits the
            model); ``window`` is -1 for a window cut around a region (``attentions(..., region=...)``) that is
            not one of the record's ``n_windows`` windows.
        start, end: the window's bp extent on the record.
        sequence: the window's bases.
        layers: the layers kept (0-based, in the order asked).
        heads: the heads kept (0-based), or None when only their mean was kept.
        weights: ``(n_layers, n_heads, n_tokens, n_tokens)`` float32 token attention (queries x keys); with
            ``heads`` None, ``n_heads`` is 1 and holds the mean over all heads.
        input_ids, tokens, spans: the window's tokens and their bp spans on the record (special tokens (-1, -1)).
        bin_size: bp per bin of :attr:`bp_matrix` (1 when the window is at most ``max_bins`` bp).
        bp_matrix: ``(n_layers, n_bins, n_bins)``: heads averaged, projected onto bp (query bins x key bins).
        track: ``(n_layers, end - start)``: per-bp attention received, heads averaged (see :attr:`track_query`).
        track_query: ``"cls"`` (from the first special token) or ``"mean"`` (mean over sequence-token queries).
        attention_type: BigBird's attention for this window (``block_sparse`` or ``original_full``), else None.
        n_layers: the model's number of layers (for titles: layers are 0-based), where known.
    """

    record_id: str
    window: int
    n_windows: int
    start: int
    end: int
    sequence: str
    layers: list[int]
    heads: list[int] | None
    weights: np.ndarray
    input_ids: np.ndarray
    tokens: list[str]
    spans: np.ndarray
    bin_size: int
    track_query: str
    attention_type: str | None = None
    n_layers: int | None = None
    bp_matrix: np.ndarray = field(init=False)
    track: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.bp_matrix = np.stack([self.matrix(layer) for layer in self.layers])
        self.track = np.stack([self.track_for(layer) for layer in self.layers])

    def token_attention(self, layer: int | None = None, head: int | str | Sequence[int] = "mean") -> np.ndarray:
        """``(n_tokens, n_tokens)`` attention of one kept layer: one head, or the mean of several (``"mean"``:
        all kept heads)."""
        weights = self.weights[self._layer_index(layer)]
        if isinstance(head, str):
            if head != "mean":
                raise DnallmError(f"head must be 'mean', a head number or a list of them, not {head!r}")
            return weights.mean(0)
        positions = [self._head_index(h) for h in ([head] if isinstance(head, (int, np.integer)) else head)]
        return weights[positions].mean(0)

    def matrix(
        self,
        layer: int | None = None,
        head: int | str | Sequence[int] = "mean",
        region: tuple[int, int] | None = None,
        max_bins: int | None = None,
    ) -> np.ndarray:
        """bp x bp attention (query bases x key bases) of one layer over the window or a region of it.

        Args:
            region: ``(start, end)`` in record bp, inside the window; default the whole window.
            max_bins: bin so that at most this many bins show; default keeps this map's :attr:`bin_size`.
        """
        lo, hi = self._region(region)
        size = self.bin_size if max_bins is None else bin_size_for(hi - lo, max_bins)
        projection = projection_matrix(self.spans, lo, hi, size)
        return projection @ self.token_attention(layer, head) @ projection.T

    def track_for(self, layer: int | None = None, head: int | str | Sequence[int] = "mean",
                  query: str | None = None) -> np.ndarray:
        """Per-bp attention received over the window, ``(end - start,)``; ``query`` as :attr:`track_query`."""
        attention = self.token_attention(layer, head)
        query = query or self.track_query
        content = self.spans[:, 0] >= 0
        if query == "cls":
            if content[0]:
                raise DnallmError("this model adds no leading special token; use query='mean'")
            row = attention[0]
        elif query == "mean":
            row = attention[content].mean(0)
        else:
            raise DnallmError(f"query must be 'cls' or 'mean', not {query!r}")
        return project_to_bp(row, self.spans, self.end - self.start, offset=self.start)

    def _layer_index(self, layer: int | None) -> int:
        if layer is None:
            return 0
        if layer in self.layers:
            return self.layers.index(layer)
        raise DnallmError(f"layer {layer} was not extracted; this map holds layers {self.layers}")

    def _head_index(self, head: int) -> int:
        if self.heads is None:
            raise DnallmError("only the mean over heads was kept; extract with heads='all' or a list to pick heads")
        if head in self.heads:
            return self.heads.index(head)
        raise DnallmError(f"head {head} was not extracted; this map holds heads {self.heads}")

    def window_text(self) -> str:
        """Which window this is, in words, 0-based: ``window 114 of 0-275 (bp 20,064-20,264)``, or for a window
        cut around a region ``the window over bp 20,420-20,620 centred on the region``."""
        span = f"bp {self.start:,}-{self.end:,}"
        if self.window < 0:
            return f"the window over {span} centred on the region"
        if self.n_windows == 1:
            return f"the record's one window ({span})"
        return f"window {self.window} of 0-{self.n_windows - 1} ({span})"

    def _region(self, region: tuple[int, int] | None) -> tuple[int, int]:
        if region is None:
            return self.start, self.end
        lo, hi = int(region[0]), int(region[1])
        if not self.start <= lo < hi <= self.end:
            raise DnallmError(
                f"region {lo}-{hi} is not inside {self.window_text()} of '{self.record_id}'"
            )
        return lo, hi


# ---------------------------------------------------------------------------------------------------------------
# memory: refuse a map that cannot fit before computing it

#: environment variable: the most bytes one attention map may need (a number, optionally with K, M, G or T,
#: powers of 1024); unset, the limit is ``MEMORY_SHARE`` of the memory available on the device at the call
MEMORY_LIMIT_ENV = "DNALLM_ATTENTION_MEMORY_LIMIT"
#: share of the available memory (RAM on a CPU, free CUDA memory on a GPU) one attention map may take
MEMORY_SHARE = 0.5


def attention_memory_bytes(
    n_tokens: int, n_layers_kept: int, n_heads_kept: int, n_heads: int, block_size: int | None = None,
    mean_of_heads: bool = False,
) -> int:
    """Estimated peak bytes of one attention map's extraction (above the model and its activations).

    ``kept``: the float32 map dnallm returns, ``n_layers_kept x n_heads_kept x n_tokens^2 x 4`` (``n_heads_kept``
    is 1 for heads="mean"); ``transient``: while one layer runs, its full ``(n_heads, n, n)`` weights exist twice
    (eager attention's scores and probabilities; block-sparse BigBird's dense display map, over the input padded
    to whole blocks of ``block_size`` tokens, and its float32 copy), ``2 x n_heads x n^2 x 4``; three times with
    ``mean_of_heads`` (heads="mean": the heads are copied once more to be averaged). Measured against peak RSS in
    benchmarks/attention_memory.py.
    """
    padded = n_tokens if not block_size else -(-n_tokens // block_size) * block_size
    kept = n_layers_kept * n_heads_kept * n_tokens**2 * 4
    transient = (3 if mean_of_heads else 2) * n_heads * padded**2 * 4
    return int(kept + transient)


def available_memory_bytes(device: Any) -> int | None:
    """Bytes available now: free CUDA memory on a CUDA device, else the RAM the OS can give without swapping
    (``MemAvailable`` of /proc/meminfo, else ``os.sysconf`` available pages); None when unknown (MPS)."""
    import os

    device_type = getattr(device, "type", str(device))
    if device_type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device_type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def parse_bytes(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1000000"`` -> bytes (K, M, G, T are powers of 1024)."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    if value and value[-1] in "KMGT":
        scale = 1024 ** ("KMGT".index(value[-1]) + 1)
        value = value[:-1]
    try:
        number = float(value)
    except ValueError:
        raise DnallmError(
            f"{MEMORY_LIMIT_ENV}={text!r} is not a size; give bytes such as 8G, 500M or 1000000"
        ) from None
    if number <= 0:
        raise DnallmError(f"{MEMORY_LIMIT_ENV}={text!r} must be positive")
    return int(number * scale)


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


def check_attention_memory(
    n_tokens: int, layers: list[int], heads: list[int] | None, n_heads: int, block_size: int | None,
    device: Any, record_id: str, limit: int | None = None,
) -> int:
    """Raise :class:`DnallmError` when the map's :func:`attention_memory_bytes` exceeds ``limit`` bytes (default:
    :data:`MEMORY_LIMIT_ENV` if set, else :data:`MEMORY_SHARE` of :func:`available_memory_bytes`). Returns the
    estimate."""
    import os

    need = attention_memory_bytes(n_tokens, len(layers), 1 if heads is None else len(heads), n_heads, block_size,
                                  mean_of_heads=heads is None)
    source = MEMORY_LIMIT_ENV
    if limit is None and os.environ.get(MEMORY_LIMIT_ENV):
        limit = parse_bytes(os.environ[MEMORY_LIMIT_ENV])
    elif limit is None:
        available = available_memory_bytes(device)
        if available is None:
            return need
        limit = int(available * MEMORY_SHARE)
        where = "free GPU memory" if getattr(device, "type", "") == "cuda" else "available RAM"
        source = f"half the {where}, {_size(available)}"
    else:
        source = "the limit given"
    if need > limit:
        raise DnallmError(
            f"the attention map of '{record_id}' ({n_tokens:,} tokens, {len(layers)} "
            f"layer{'s' if len(layers) > 1 else ''} x "
            f"{'mean of heads' if heads is None else f'{len(heads)} heads'}) needs about {_size(need)}, over "
            f"{_size(limit)} ({source}); keep fewer layers or heads (CLI: --head mean, one --layer), or a shorter "
            f"input: a slice of the record, or load with max_tokens=N to run it in windows (window=/--window picks "
            f"one); {MEMORY_LIMIT_ENV}=SIZE sets the limit"
        )
    logger.debug("attention map of '%s': about %s (limit %s)", record_id, _size(need), _size(limit))
    return need
