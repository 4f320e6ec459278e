"""Gradient attributions on a model's input embeddings, projected onto bases: integrated gradients and
gradient x input (Captum).

For one window (an :class:`~dnallm.tokenization.Encoding`) with token ids ``t``, ``x`` is the
``(n_tokens, hidden)`` input the model takes as ``inputs_embeds``: ``model.get_input_embeddings()(t)``, the word
embeddings, for models that add their own position embeddings, token types and normalisation to ``inputs_embeds``
(BERT, BigBird, ...); the embedding module's whole output (word + position embeddings) for transformers' ESM
(Nucleotide Transformer), which hands ``inputs_embeds`` to its encoder untouched. ``f`` is the target head's
scalar (:func:`dnallm.targets.target_head`: log-odds, value or mean log-probability).

======================== =====================================================================================
method                   token attribution (summed over the hidden dimension)
======================== =====================================================================================
``integrated_gradients`` ``sum_h (x - x')_h * mean_a df/dx_h (x' + a (x - x'))`` over ``steps`` points
                         ``a`` in ``(0, 1)`` (Captum's Gauss-Legendre rule)
``gradient_x_input``     ``sum_h x_h * df/dx_h (x)`` (one forward and backward pass; relative to zeros)
======================== =====================================================================================

**Baseline** ``x'`` (integrated gradients): the same window with every sequence token replaced by the pad token
and the special tokens kept, embedded by the same rule (ESM: at the window's own positions). It is an input the
model can be given (its embedding layer's "no sequence" row with the model's own ``[CLS]``/``[SEP]``), so the
path from ``x'`` to ``x`` changes only what the sequence contributes, and special tokens receive exactly 0.
Models built with ``padding_idx`` (BERT, ESM, BigBird in transformers) keep that row at zero, so for BERT-like
models this equals a zero baseline at sequence tokens; a model whose pad row was trained keeps its learned
"empty" input. Why not zeros everywhere: on ESM the zero vector reaches the first LayerNorm as it is (no position
added), where LayerNorm (eps 1e-12) is discontinuous, and the integral missed ``f(x) - f(0)`` by 66% at 20, 50 and
100 steps alike on the test model (1.5e-6 with this baseline). A tokenizer without a pad token falls back to
zeros at sequence tokens.

**Completeness** (integrated gradients): the token attributions of a window sum to ``f(x) - f(x')`` up to the
error of the ``steps``-point integral; :attr:`WindowAttribution.delta` is that error, ``sum - (f(x) - f(x'))``
(Captum's convergence delta). It holds on the **token** sums. Per-bp scores follow the token -> bp rule of
attention (:func:`dnallm.attention.project_to_bp`): a token's value spread evenly over its bases, a base covered
by several tokens taking their mean. For non-overlapping tokens (BPE, non-overlapping k-mers, single bases) the
per-bp scores of a window therefore sum to the token sum; for overlapping k-mers (``k`` tokens on most bases)
each base holds a mean, so a window's per-bp scores sum to about ``1/k`` of it. Windows of a long record are
attributed one by one and their per-bp scores averaged where windows overlap.

Precision: run gradients in float32. In bfloat16 (``dtype="auto"`` on a CUDA GPU) the sums missed
``f(x) - f(x')`` by 0.5-5% on the four test models at 20 and 50 steps alike (float32: under 2e-5); a window
more than 5% off is logged as a warning that says which to change.

The steps of one window run ``max_batch_tokens // n_tokens`` at a time (the runner's token budget; Captum's
``internal_batch_size``), under ``torch.enable_grad`` with the model in eval mode. Block-sparse BigBird runs with
the attention type its window length allows (:func:`dnallm.bigbird.attention_type_for`; gradients flow through
block-sparse attention, checked in tests/test_gradients.py) and without its dense display map, as predictions.
Every window is checked: the model's output on the embeddings must equal its output on the token ids, or the
gradients would explain another function (a DnallmError says so and points to ISM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dnallm import bigbird
from dnallm.attention import project_to_bp
from dnallm.errors import DnallmError, OptionError
from dnallm.heads import Head
from dnallm.tokenization import Encoding

logger = logging.getLogger(__name__)

METHODS = ("integrated_gradients", "gradient_x_input")
#: a window whose integrated-gradients sum misses f(x) - f(x') by more than this share is logged as a warning
COMPLETENESS_WARNING = 0.05


@dataclass(frozen=True)
class WindowAttribution:
    """The attribution of one window.

    Attributes:
        values: ``(n_tokens,)`` float64, one score per token (special tokens included; 0 for integrated
            gradients, whose baseline keeps them).
        output: ``f(x)``, the target at the input.
        baseline_output: ``f(x')``, the target at the baseline (integrated gradients only).
        delta: ``values.sum() - (output - baseline_output)``, the integral's error (integrated gradients only).
    """

    values: np.ndarray
    output: float | None = None
    baseline_output: float | None = None
    delta: float | None = None

    @property
    def relative_error(self) -> float | None:
        """``|delta| / |f(x) - f(x')|`` (None without a delta)."""
        if self.delta is None:
            return None
        return abs(self.delta) / max(abs(self.output - self.baseline_output), 1e-12)


def _captum(method: str) -> Any:
    """Captum's attribution class for ``method``, imported here (an optional dependency)."""
    if method not in METHODS:
        raise OptionError(f"unknown gradient method {method!r}; choose one of {', '.join(METHODS)}")
    try:
        from captum.attr import InputXGradient, IntegratedGradients
    except ImportError:
        raise DnallmError(
            f"{method} needs captum, which is not installed; install it with: pip install \"dnallm[attribute]\""
        ) from None
    return IntegratedGradients if method == "integrated_gradients" else InputXGradient


def _model_name(model: Any) -> str:
    return getattr(model.config, "_name_or_path", "") or type(model).__name__


def _window_batch(runner: Any, enc: Encoding) -> dict[str, Any]:
    """``input_ids``, ``attention_mask``, ``content_mask``: ``(1, n_tokens)`` tensors on the runner's device."""
    import torch

    ids = torch.as_tensor(np.asarray(enc.input_ids, dtype=np.int64), device=runner.device)[None]
    content = torch.as_tensor(~enc.special_mask, device=runner.device)[None]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "content_mask": content}


def _positions(model: Any, ids: Any) -> Any:
    """ESM's position ids of a window without padding (its rule: ``padding_idx + 1`` onwards)."""
    import torch

    start = model.base_model.embeddings.padding_idx + 1
    return torch.arange(start, start + ids.shape[1], device=ids.device)[None]


def _embed(model: Any, ids: Any, batch: dict[str, Any]) -> Any:
    """What the model takes as ``inputs_embeds`` for token ids ``ids`` ``(1, n_tokens)``.

    Most models add positions (and token types, normalisation) to ``inputs_embeds`` themselves: their input is
    the word embedding. transformers' ESM (Nucleotide Transformer) hands ``inputs_embeds`` to its encoder as they
    are, so there the input is the embedding module's whole output (word and position embeddings, at the window's
    own positions for the baseline too)."""
    if getattr(model.config, "model_type", "") == "esm":
        return model.base_model.embeddings(input_ids=ids, attention_mask=batch["attention_mask"],
                                           position_ids=_positions(model, batch["input_ids"]))
    layer = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if layer is None:
        raise DnallmError(f"{_model_name(model)} exposes no input embeddings: gradient methods cannot run on it; "
                          "use method='ism'")
    return layer(ids)


def input_embeddings(runner: Any, enc: Encoding) -> tuple[Any, Any]:
    """The window's input ``x`` and baseline ``x'`` (module docstring), each ``(1, n_tokens, hidden)`` in the
    model's dtype, without gradients."""
    import torch

    model = runner.model
    batch = _window_batch(runner, enc)
    pad = runner.tokenizer.pad_id
    with torch.no_grad():
        x = _embed(model, batch["input_ids"], batch)
        if pad is None:
            baseline = x * ~batch["content_mask"][..., None]
        else:
            baseline = _embed(model, batch["input_ids"].masked_fill(batch["content_mask"], pad), batch)
    return x, baseline


def _check_embeddings(runner: Any, head: Head, enc: Encoding, from_embeds: float) -> None:
    """Refuse a model whose output on ``inputs_embeds`` is not its output on the token ids: the gradients
    would explain another function."""
    import torch

    with torch.no_grad():
        from_ids = float(head.compute(runner.model, _window_batch(runner, enc))[0, 0])
    if abs(from_ids - from_embeds) > 1e-3 * max(1.0, abs(from_ids)):
        raise DnallmError(
            f"{_model_name(runner.model)} gives {from_embeds:.6g} from its input embeddings but {from_ids:.6g} "
            f"from the token ids of window {enc.window} of '{enc.record_id}': gradient methods cannot run on this "
            "architecture; use method='ism'")


def _target(runner: Any, head: Head, batch: dict[str, Any]) -> Callable[[Any], Any]:
    """``embeds (b, n_tokens, hidden) -> (b,)``: the head's output with the window's masks repeated ``b`` times."""
    model = runner.model

    def forward(embeds: Any) -> Any:
        rows = {key: value.expand(embeds.shape[0], -1) for key, value in batch.items()}
        rows["inputs_embeds"] = embeds
        return head.compute(model, rows)[:, 0]

    return forward


def attribute_window(runner: Any, enc: Encoding, head: Head, method: str = "integrated_gradients",
                     steps: int = 50) -> WindowAttribution:
    """Token attributions of one window (``runner.windows(rec)`` gives a record's), with completeness numbers.

    Args:
        runner: the :class:`dnallm.runner.Runner` of the loaded model.
        enc: the window.
        head: the target, from :func:`dnallm.targets.target_head` (``compute`` gives ``(batch, 1)``).
        method: ``integrated_gradients`` or ``gradient_x_input``.
        steps: integration points of integrated gradients (ignored by gradient x input).

    Raises:
        DnallmError: captum is missing; the model has no usable input embeddings (its output on them differs
            from its output on the token ids); the backward pass fails on the model (the message names both).
    """
    import torch

    explainer = _captum(method)
    if steps < 1:
        raise OptionError(f"steps must be positive, not {steps}")
    model = runner.model
    x, baseline = input_embeddings(runner, enc)
    forward = _target(runner, head, _window_batch(runner, enc))
    integrated = method == "integrated_gradients"
    n = len(enc)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad(), bigbird.attention_type_for(model, n) as attention, \
                bigbird.no_dense_attention_map(model):
            try:
                if integrated:
                    attr = explainer(forward).attribute(x, baselines=baseline, n_steps=steps,
                                                        internal_batch_size=max(1, runner.max_batch_tokens // n))
                else:
                    attr = explainer(forward).attribute(x.clone().requires_grad_(True))
            except (RuntimeError, TypeError, NotImplementedError) as exc:
                where = f" with {attention} attention" if attention else ""
                raise DnallmError(f"{method} failed on {_model_name(model)}{where} (window of {n} tokens): "
                                  f"{type(exc).__name__}: {exc}; use method='ism'") from exc
            values = attr[0].detach().float().sum(-1).cpu().numpy().astype(np.float64)
            with torch.no_grad():
                ends = forward(torch.cat([x, baseline]) if integrated else x).float().cpu().numpy()
            _check_embeddings(runner, head, enc, float(ends[0]))
    finally:
        model.train(was_training)
    if not integrated:
        return WindowAttribution(values, float(ends[0]))
    delta = float(values.sum() - (float(ends[0]) - float(ends[1])))
    out = WindowAttribution(values, float(ends[0]), float(ends[1]), delta)
    if out.relative_error > COMPLETENESS_WARNING:
        hint = f"raise steps (now {steps})" if x.dtype == torch.float32 else \
            f"the model runs in {str(x.dtype).removeprefix('torch.')}: load it with dtype='float32'"
        logger.warning("integrated gradients of window %d of '%s' sum to %.4g, f(x) - f(baseline) is %.4g "
                       "(%.1f%% off): %s", enc.window, enc.record_id, values.sum(), ends[0] - ends[1],
                       100 * out.relative_error, hint)
    return out


def token_attributions(runner: Any, enc: Encoding, head: Head, method: str = "integrated_gradients",
                       steps: int = 50) -> np.ndarray:
    """``(n_tokens,)`` float64 attributions of one window's tokens (:func:`attribute_window` for the delta)."""
    return attribute_window(runner, enc, head, method, steps).values


def base_attributions(runner: Any, rec: Any, head: Head, method: str = "integrated_gradients",
                      steps: int = 50) -> np.ndarray:
    """Per-bp attributions of one record, ``(len(rec),)`` float64.

    Each window's token attributions are projected onto its bases (:func:`dnallm.attention.project_to_bp`: per
    base the mean of the covering tokens' shares); a base in several windows takes the mean of their scores;
    bases no token covers are 0.

    Args:
        runner: the :class:`dnallm.runner.Runner` of the loaded model.
        rec: a :class:`dnallm.io.fasta.Record`.
        head: the target (:func:`dnallm.targets.target_head`).
        method: ``integrated_gradients`` or ``gradient_x_input``.
        steps: integration points per window (integrated gradients).
    """
    _captum(method)
    length = len(rec.seq)
    total = np.zeros(length)
    windows = np.zeros(length)
    for enc in runner.windows(rec):
        values = token_attributions(runner, enc, head, method, steps)
        span = enc.end - enc.start
        total[enc.start : enc.end] += project_to_bp(values, enc.spans, span, offset=enc.start)
        covered = project_to_bp(np.ones(len(enc)), enc.spans, span, offset=enc.start) > 0
        windows[enc.start : enc.end] += covered
    out = np.zeros(length)
    np.divide(total, windows, out=out, where=windows > 0)
    return out
