"""Every BigBird special case in one place.

transformers' BigBird runs block-sparse attention on inputs longer than ``(5 + 2 * num_random_blocks) *
block_size`` tokens and needs full attention on shorter ones. Three things go wrong without care, and dnallm
handles each here:

- **the permanent switch**: after one short input transformers sets a block-sparse model to full attention for
  good. :func:`attention_type_for` switches for one forward pass only and restores the configured type.
- **block layouts**: padding an input to a batch's longest changes its number of blocks, and so which blocks
  it attends to. :func:`batch_groups` gives the key under which :func:`dnallm.batching.plan_batches` keeps
  inputs of one layout together.
- **the dense map**: every block-sparse forward pass fills a dense ``(batch, heads, tokens, tokens)`` attention
  map for display, a large share of its CPU time. :func:`no_dense_attention_map` makes that map shapes only
  while predictions and embeddings run. Attention maps (:mod:`dnallm.attention`) keep it, and
  :func:`restore_duplicated_block` repairs the one place where it differs from the attention the model applied.

The functions take any model and do nothing for models that are not block-sparse BigBird.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_MODULE = "transformers.models.big_bird.modeling_big_bird"


def block_size(config: Any) -> int | None:
    """The attention block size in tokens of a block-sparse BigBird config, else None."""
    if getattr(config, "attention_type", "") != "block_sparse":
        return None
    return getattr(config, "block_size", None)


def full_attention_limit(config: Any) -> int:
    """Inputs of at most this many tokens cannot run block-sparse: (5 + 2 * random blocks) * block size."""
    return (5 + 2 * config.num_random_blocks) * config.block_size


def runs_sparse(config: Any, n_tokens: int) -> bool:
    """Whether an input of ``n_tokens`` runs block-sparse on this model."""
    return block_size(config) is not None and n_tokens > full_attention_limit(config)


def batch_groups(config: Any, lengths: np.ndarray) -> np.ndarray | None:
    """The block-layout rule: a key per input (tokens ``lengths``) so that a batch holds one block layout.

    Block-sparse inputs are keyed by their number of blocks, so padding never changes an input's attention
    pattern; inputs short enough for full attention share key 0. None for other models (no constraint).
    """
    size = block_size(config)
    if size is None:
        return None
    lengths = np.asarray(lengths)
    return np.where(lengths > full_attention_limit(config), -(-lengths // size), 0)


def _sparse_base(model: Any) -> Any | None:
    """The module of a block-sparse BigBird that holds the attention type, else None."""
    if block_size(getattr(model, "config", None)) is None:
        return None
    for module in model.modules():
        if hasattr(module, "set_attention_type") and hasattr(module, "encoder") and hasattr(module, "attention_type"):
            return module
    return None


@contextmanager
def attention_type_for(model: Any, seq_len: int) -> Iterator[str | None]:
    """Run one BigBird forward with the attention type its input length allows, then restore the configured one.

    Yields the attention type in force (``"block_sparse"`` or ``"original_full"``; None for other models).
    """
    base = _sparse_base(model)
    if base is None:
        yield None
        return
    configured = model.config.attention_type
    needed = "original_full" if seq_len <= full_attention_limit(model.config) else configured
    base.set_attention_type(needed)
    try:
        yield needed
    finally:
        base.set_attention_type(configured)


class _TorchWithoutDenseMap:
    """Stands in for ``torch`` inside transformers' BigBird module: the same module, except that while a thread
    runs :func:`no_dense_attention_map`, the one four-dimensional floating-point ``torch.zeros`` of that module,
    the dense (batch, heads, tokens, tokens) attention map that block-sparse attention fills in for display, is
    allocated on the ``meta`` device: shapes only, no memory, no work. Everything else goes to torch unchanged."""

    def __init__(self, module: Any):
        self._torch = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._torch, name)

    def zeros(self, *size: Any, **kwargs: Any) -> Any:
        dense_map = len(size) == 4 and all(isinstance(n, int) for n in size)
        dtype = kwargs.get("dtype") or self._torch.get_default_dtype()
        if dense_map and dtype.is_floating_point and getattr(_skip_dense_map, "on", False):
            kwargs["device"] = "meta"
        return self._torch.zeros(*size, **kwargs)


_skip_dense_map = threading.local()


@contextmanager
def no_dense_attention_map(model: Any) -> Iterator[None]:
    """Within this block, in this thread, block-sparse BigBird's dense display map is shapes only (0.8 GB per
    layer for 4,096 tokens and 12 heads otherwise; benchmarks/README.md, "pure, dense map"). Predictions and
    embeddings do not read it."""
    if _sparse_base(model) is None:
        yield
        return
    module = sys.modules.get(_MODULE)
    if module is not None and not isinstance(module.torch, _TorchWithoutDenseMap):
        module.torch = _TorchWithoutDenseMap(module.torch)
    _skip_dense_map.on = True
    try:
        yield
    finally:
        _skip_dense_map.on = False


def is_sparse_attention(module: Any) -> bool:
    """Whether an attention module runs BigBird's block-sparse attention."""
    return hasattr(module, "bigbird_block_sparse_attention")


def restore_duplicated_block(weights: Any, size: int) -> None:
    """Block-sparse BigBird in eval mode draws its "random" key blocks as block 0 (transformers sets them to
    zeros at inference), so block 0 enters the softmax 1 + random-blocks times; the dense map transformers
    returns writes one copy's weight. Put the copies' weight back on block 0 (the first ``size`` keys), in place,
    so that every row sums to 1 and the map is the attention the model applied. Rows that already sum to 1 are
    left as they are."""
    import torch

    missing = 1.0 - weights.sum(-1, keepdim=True)
    first = weights[..., :size]
    mass = first.sum(-1, keepdim=True)
    fix = (missing > 1e-6) & (mass > 0)
    first.mul_(torch.where(fix, (mass + missing) / mass.clamp(min=1e-30), torch.ones_like(mass)))
