"""Heads as data: what a forward pass returns for a window, and how a record's windows combine.

Each :class:`Head` gives its output columns, its post-processing of one batch (``compute``) and its rule for
combining a long record's windows into the record's output (``combine``). The runner calls ``compute`` once per
batch and nothing else looks inside; ``predict`` and ``embed`` pick a head and read its columns. A new head is
one entry in :data:`HEADS`.

==================  ==================================================  =============================================
model head          detected from the config                            ``predict`` columns
==================  ==================================================  =============================================
``classification``  ``*ForSequenceClassification``, 2+ labels          one probability per label (softmax), named
                                                                        from ``id2label``
``multilabel``      ``problem_type == "multi_label_classification"``    one probability per label (sigmoid)
``regression``      ``num_labels == 1`` or ``problem_type ==            ``value`` (or ``value_<label>`` for several)
                    "regression"``
``masked_lm``       ``*ForMaskedLM``, ``*ForPreTraining``               ``mean_log_prob``: mean over the record's
                                                                        tokens of log p(token), nothing masked
``causal_lm``       ``*ForCausalLM``                                    ``mean_log_prob``: mean log p(token | the
                                                                        tokens before it)
``encoder``         a bare encoder (``*Model``)                         none: ``predict`` says to use ``embed``
==================  ==================================================  =============================================

Embedding heads (``embed(pooling=...)``), from the last hidden layer, columns ``dim_0`` ... ``dim_{hidden-1}``:
``mean`` over the window's sequence tokens (special tokens and padding excluded), ``cls`` the first special
token's vector, ``max`` the element-wise maximum over the sequence tokens. A long record's output is the mean of
its windows' outputs, except for ``max``: the element-wise maximum over its windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dnallm.errors import DnallmError, ModelLoadError, OptionError

#: column names that results already use: a label of that name becomes ``p_<label>``
RESERVED_COLUMNS = ("id", "length", "n_windows", "window", "start", "end")

Batch = dict[str, Any]  # input_ids, attention_mask, content_mask: (batch, tokens) tensors on the model's device


def mean_of_windows(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The default aggregation rule: a record's output is the mean of its windows' outputs (float64).

    ``values``: ``(n_windows, dim)``, the windows of consecutive records; ``counts``: windows per record."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return np.add.reduceat(values.astype(np.float64), starts, axis=0) / np.asarray(counts)[:, None]


def max_of_windows(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A record's output is the element-wise maximum of its windows' outputs (float64)."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return np.maximum.reduceat(values.astype(np.float64), starts, axis=0)


@dataclass(frozen=True)
class Head:
    """One head.

    Attributes:
        name: its name (:data:`HEADS` key).
        columns: the config -> the names of its output columns.
        compute: ``(model, batch) -> (batch, len(columns))`` float tensor, one row per window; None for a model
            that computes nothing to predict (a bare encoder).
        combine: ``(values (n_windows, dim), windows per record) -> (n_records, dim)`` float64.
        auto_class: the transformers Auto class that loads models with this head (model heads only).
        needs_prefix: the tokenizer must add a leading special token (``cls`` pooling).
    """

    name: str
    columns: Callable[[Any], list[str]]
    compute: Callable[[Any, Batch], Any] | None
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray] = mean_of_windows
    auto_class: str | None = None
    needs_prefix: bool = False


# -- columns -------------------------------------------------------------------------------------------------------


def _label_columns(config: Any) -> list[str]:
    labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    return [f"p_{label}" if label in RESERVED_COLUMNS else label for label in labels]


def _value_columns(config: Any) -> list[str]:
    if config.num_labels == 1:
        return ["value"]
    return [f"value_{config.id2label.get(i, i)}" for i in range(config.num_labels)]


def _dims(config: Any) -> list[str]:
    return [f"dim_{i}" for i in range(config.hidden_size)]


# -- post-processing of one batch ---------------------------------------------------------------------------------


def model_inputs(batch: Batch) -> dict[str, Any]:
    """The model's keyword inputs: ``inputs_embeds`` when the batch has them (gradients), else ``input_ids``."""
    if "inputs_embeds" in batch:
        return {"inputs_embeds": batch["inputs_embeds"], "attention_mask": batch["attention_mask"]}
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def logits(model: Any, batch: Batch) -> Any:
    """The model's output logits ``(batch, ...)`` as float32."""
    output = model(**model_inputs(batch))
    return (output.logits if hasattr(output, "logits") else output.prediction_logits).float()


def mean_log_prob(model: Any, batch: Batch, shift: bool) -> Any:
    """Mean over a window's sequence tokens of log p(token); ``shift``: token t is predicted from those before."""
    values, ids, content = logits(model, batch), batch["input_ids"], batch["content_mask"]
    if shift:
        values, ids, content = values[:, :-1], ids[:, 1:], content[:, 1:]
    log_prob = values.gather(-1, ids[..., None])[..., 0] - values.logsumexp(-1)
    return ((log_prob * content).sum(1) / content.sum(1).clamp(min=1))[:, None]


def _hidden(model: Any, batch: Batch) -> Any:
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return hidden.float()


def _mean_pool(model: Any, batch: Batch) -> Any:
    content = batch["content_mask"][..., None]
    return (_hidden(model, batch) * content).sum(1) / content.sum(1).clamp(min=1)


def _max_pool(model: Any, batch: Batch) -> Any:
    content = batch["content_mask"][..., None]
    return _hidden(model, batch).masked_fill(~content, float("-inf")).amax(1)


_CLASSIFIER = "AutoModelForSequenceClassification"
#: the head of a bare encoder, and of a model whose task head is not in its weights: nothing to predict
ENCODER = "encoder"

HEADS: dict[str, Head] = {
    head.name: head
    for head in (
        Head("classification", _label_columns, lambda m, b: logits(m, b).softmax(-1), auto_class=_CLASSIFIER),
        Head("multilabel", _label_columns, lambda m, b: logits(m, b).sigmoid(), auto_class=_CLASSIFIER),
        Head("regression", _value_columns, logits, auto_class=_CLASSIFIER),
        Head("masked_lm", lambda c: ["mean_log_prob"], lambda m, b: mean_log_prob(m, b, False),
             auto_class="AutoModelForMaskedLM"),
        Head("causal_lm", lambda c: ["mean_log_prob"], lambda m, b: mean_log_prob(m, b, True),
             auto_class="AutoModelForCausalLM"),
        Head(ENCODER, lambda c: [], None, auto_class="AutoModel"),
        Head("embed_mean", _dims, _mean_pool),
        Head("embed_cls", _dims, lambda m, b: _hidden(m, b)[:, 0], needs_prefix=True),
        Head("embed_max", _dims, _max_pool, combine=max_of_windows),
    )
}

#: the model heads dnallm can load, as :func:`detect_head` names them
MODEL_HEADS = tuple(name for name, head in HEADS.items() if head.auto_class is not None)
#: ``embed(pooling=...)`` values, the default first
POOLINGS = ("mean", "cls", "max")


def detect_head(config: Any) -> str:
    """What the model computes, from its config's architecture and problem type (see the module docstring)."""
    archs = getattr(config, "architectures", None) or []
    arch = archs[0] if archs else ""
    problem = getattr(config, "problem_type", None)
    if arch.endswith("ForSequenceClassification"):
        if problem == "regression" or config.num_labels == 1:
            return "regression"
        return "multilabel" if problem == "multi_label_classification" else "classification"
    if arch.endswith(("ForMaskedLM", "ForPreTraining")):
        return "masked_lm"
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        return "causal_lm"
    if arch.endswith("Model") or not arch:
        return ENCODER
    raise ModelLoadError(
        f"dnallm does not know what {arch} predicts; it runs sequence classifiers and regressors, masked and causal "
        "language models, and bare encoders (for embed)"
    )


def prediction_head(name: str, model_name: str) -> Head:
    """The head ``predict`` runs for a model whose head is ``name``; a bare encoder is refused."""
    head = HEADS[name]
    if head.compute is None:
        raise DnallmError(
            f"{model_name} is a bare encoder without a prediction head: it has nothing to predict; "
            "use embed() (CLI: dnallm embed) for its embeddings"
        )
    return head


def pooling_head(pooling: str, has_prefix: bool, model_name: str) -> Head:
    """The embedding head of ``pooling`` (one of :data:`POOLINGS`)."""
    if pooling not in POOLINGS:
        raise OptionError(f"unknown pooling {pooling!r}; use {', '.join(repr(p) for p in POOLINGS)}")
    head = HEADS[f"embed_{pooling}"]
    if head.needs_prefix and not has_prefix:
        raise DnallmError(f"{model_name} adds no leading special token; use pooling='mean'")
    return head
