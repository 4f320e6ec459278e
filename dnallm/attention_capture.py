"""One eager forward pass that keeps the attention of chosen layers, and the maps and tracks built from it.

:func:`attention_map` runs one window of one record with eager attention (for that call only: the backend the
runner uses is restored after) and keeps the weights of the asked layers alone, written into one array as each
layer runs. :func:`attention_track` runs every window of a record and averages their per-bp tracks where windows
overlap. The projection onto bp and :class:`~dnallm.attention.AttentionMap` are in :mod:`dnallm.attention`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from dnallm import bigbird
from dnallm.attention import AttentionMap, bin_size_for, check_attention_memory
from dnallm.errors import DnallmError
from dnallm.io.fasta import Record, iter_records
from dnallm.tokenization import Encoding

Layers = int | Sequence[int] | str
Heads = int | Sequence[int] | str


def attention_modules(model: Any) -> list[tuple[Any, int]]:
    """The self-attention modules of the model, one per layer in order, each with the position of the attention
    weights in its output (transformers' own record of where attentions come from)."""
    recorders = (getattr(type(model), "_can_record_outputs", None) or {}).get("attentions")
    if recorders is None:
        return []
    recorders = recorders if isinstance(recorders, list) else [recorders]
    rules = []
    for rec in recorders:
        if isinstance(rec, type):
            rules.append((rec, 1, None))
        else:
            rules.append((rec.target_class, rec.index, rec.layer_name))
    found = []
    for name, module in model.named_modules():
        for cls, index, layer_name in rules:
            if isinstance(module, cls) and (layer_name is None or layer_name in f".{name}."):
                found.append((module, index))
                break
    return found


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Run the block with eager attention (the only backend that returns weights), then restore the backend."""
    before = getattr(model.config, "_attn_implementation", "eager")
    if before != "eager":
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if before != "eager":
            model.set_attn_implementation(before)


@contextmanager
def capture_layers(
    model: Any, layers: list[int], heads: list[int] | None, n_tokens: int
) -> Iterator[np.ndarray]:
    """Keep the attention weights of the chosen layers only (and only the chosen heads, or their mean when
    ``heads`` is None), written straight into one array as each layer runs; the other layers' weights are
    dropped as soon as their layer finishes. Weights are cut to the ``n_tokens`` of the input (block-sparse
    BigBird pads to a whole number of blocks inside).

    Yields:
        ``(len(layers), n_heads kept or 1, n_tokens, n_tokens)`` float32, filled when the forward pass ends.
    """
    import torch

    modules = attention_modules(model)
    if len(modules) != model.config.num_hidden_layers:
        raise DnallmError(
            f"dnallm cannot find the attention modules of {type(model).__name__} ({len(modules)} found for "
            f"{model.config.num_hidden_layers} layers); attention maps are not available for this model"
        )
    n_heads = model.config.num_attention_heads
    every_head = heads is not None and heads == list(range(n_heads))
    buffer = np.zeros((len(layers), 1 if heads is None else len(heads), n_tokens, n_tokens), dtype=np.float32)
    handles = []
    for slot, layer in enumerate(layers):
        module, index = modules[layer]

        def keep(module, _inputs, output, slot=slot, index=index):
            weights = output[index]
            if weights is None:
                raise DnallmError("the attention backend returned no weights; eager attention is needed")
            weights = weights[0, :, :n_tokens, :n_tokens]
            sparse = bigbird.is_sparse_attention(module)
            target = torch.from_numpy(buffer[slot])
            if heads is None:
                weights = weights.float().clone() if sparse else weights.float()
                if sparse:
                    bigbird.restore_duplicated_block(weights, module.block_size)
                target.copy_(weights.mean(0, keepdim=True))
            else:
                target.copy_(weights if every_head else weights[heads])
                if sparse:
                    bigbird.restore_duplicated_block(target, module.block_size)

        handles.append(module.register_forward_hook(keep))
    try:
        yield buffer
    finally:
        for handle in handles:
            handle.remove()


def resolve_layers(layers: int | Sequence[int] | str, n_layers: int) -> list[int]:
    """Layer numbers (negative count from the end, ``"all"``) to 0-based ones, checked."""
    if isinstance(layers, str):
        if layers != "all":
            raise DnallmError(f"layers must be a layer number, a list of them or 'all', not {layers!r}")
        return list(range(n_layers))
    items = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
    out = []
    for layer in items:
        if not -n_layers <= layer < n_layers:
            raise DnallmError(f"layer {layer} does not exist: the model has {n_layers} layers (0 to {n_layers - 1})")
        out.append(int(layer) % n_layers)
    return out


def resolve_heads(heads: int | Sequence[int] | str | None, n_heads: int) -> list[int] | None:
    """Head numbers to keep; None keeps only the mean over all heads (``"mean"``)."""
    if heads is None or heads == "all":
        return list(range(n_heads))
    if isinstance(heads, str):
        if heads != "mean":
            raise DnallmError(f"heads must be a head number, a list of them, 'all' or 'mean', not {heads!r}")
        return None
    items = [heads] if isinstance(heads, (int, np.integer)) else list(heads)
    for head in items:
        if not 0 <= head < n_heads:
            raise DnallmError(f"head {head} does not exist: the model has {n_heads} heads (0 to {n_heads - 1})")
    return [int(h) for h in items]


def single_record(source: Record | tuple[str, str] | str | Path) -> Record:
    """Exactly one record from a Record, an (id, sequence) pair, a DNA string or a one-record FASTA file."""
    items = [source] if isinstance(source, (Record, tuple)) else source
    records = list(itertools.islice(iter_records(items), 2))
    if len(records) != 1:
        raise DnallmError(
            "attention maps are drawn for one record at a time; pick one, e.g. "
            "next(r for r in dnallm.read_fasta(path) if r.id == 'ID') (CLI: --id ID)"
        )
    return records[0]


def pick_window(runner: Any, rec: Record, window: int | None, region: tuple[int, int] | None) -> Encoding:
    """The window of ``rec`` to draw: number ``window``, else one holding ``region`` (record bp), else the first.

    A region inside none of the record's windows gets a window centred on it, numbered -1."""
    windows = runner.windows(rec)
    if window is not None:
        if not 0 <= window < len(windows):
            raise DnallmError(f"record '{rec.id}' has {len(windows)} windows (0 to {len(windows) - 1}), not {window}")
        return windows[window]
    if region is None:
        return windows[0]
    lo, hi = region
    if not 0 <= lo < hi <= len(rec):
        raise DnallmError(f"region {lo}-{hi} is outside record '{rec.id}' (0-{len(rec)} bp)")
    if len(windows) == 1:
        return windows[0]
    centred = runner.tokenizer.window_at(rec, lo, hi, overlap=runner.window_overlap)
    for regular in windows:  # named by its number when it is one of the record's windows
        if (regular.start, regular.end) == (centred.start, centred.end):
            return regular
    return replace(centred, window=-1)


def attention_map(runner: Any, rec: Record, enc: Encoding, layers: Layers, heads: Heads, query: str,
                  max_bins: int) -> AttentionMap:
    """The attention of one window ``enc`` of ``rec``: one eager forward pass (see the module docstring)."""
    import torch

    model, tokenizer = runner.model, runner.tokenizer
    config = model.config
    layer_list = resolve_layers(layers, config.num_hidden_layers)
    head_list = resolve_heads(heads, config.num_attention_heads)
    sparse = bigbird.runs_sparse(config, len(enc))
    check_attention_memory(len(enc), layer_list, head_list, config.num_attention_heads,
                           bigbird.block_size(config) if sparse else None, runner.device, rec.id)
    ids = torch.as_tensor(enc.input_ids, device=runner.device)[None]
    with torch.inference_mode(), eager_attention(model), bigbird.attention_type_for(model, len(enc)) as kind:
        with capture_layers(model, layer_list, head_list, len(enc)) as captured:
            model.base_model(input_ids=ids, attention_mask=torch.ones_like(ids))
    if query == "auto":
        query = "cls" if len(tokenizer.prefix_ids) else "mean"
    return AttentionMap(
        record_id=rec.id, window=enc.window, n_windows=enc.n_windows, start=enc.start, end=enc.end,
        sequence=rec.seq[enc.start : enc.end], layers=layer_list, heads=head_list, weights=captured,
        input_ids=enc.input_ids, tokens=tokenizer.hf.convert_ids_to_tokens(enc.input_ids.tolist()),
        spans=enc.spans, bin_size=bin_size_for(enc.end - enc.start, max_bins), track_query=query,
        attention_type=kind, n_layers=config.num_hidden_layers,
    )


def attention_track(runner: Any, rec: Record, layer: int, head: Heads, query: str) -> np.ndarray:
    """Per-bp attention received over a whole record, ``(length,)``: each window's track, averaged where
    windows overlap (see :mod:`dnallm.attention` for the projection and the query)."""
    total = np.zeros(len(rec))
    count = np.zeros(len(rec))
    for enc in runner.windows(rec):  # tokenized once, every window run
        amap = attention_map(runner, rec, enc, layer, head, query, max_bins=1)
        total[amap.start : amap.end] += amap.track_for(amap.layers[0], head)
        count[amap.start : amap.end] += 1
    return total / np.maximum(count, 1)
