"""The scalar an attribution explains: one number per window, a function of the model's input.

==================  ===========================================================================================
model head          target output
==================  ===========================================================================================
``classification``  log-odds of the target label: ``log p(t) - log(1 - p(t))`` (for two labels ``z_t - z_other``)
``multilabel``      log-odds of the target label: its logit
``regression``      the target value
``masked_lm``       the mean over the window's sequence tokens of log p(token), nothing masked
``causal_lm``       the mean log p(token | the tokens before it)
==================  ===========================================================================================

``target`` is a label name (``id2label``; the ``predict`` column names are accepted too); the default for a
classifier is its last label (the positive class of a two-label model). :func:`target_head` returns a
:class:`dnallm.heads.Head` whose ``compute`` gives ``(batch, 1)``: ISM runs it through the runner on mutants, and
gradient methods call it on input embeddings (``batch["inputs_embeds"]`` replaces ``input_ids`` as the model's
input when present).
"""

from __future__ import annotations

from typing import Any

from dnallm.errors import DnallmError, OptionError
from dnallm.heads import HEADS, Head, logits, mean_log_prob


def log_odds(values: Any, index: int) -> Any:
    """``(batch, 1)``: the log-odds of label ``index`` under a softmax over ``values`` (logits, ``(batch, labels)``),
    ``log p(t) - log(1 - p(t))`` computed stably; a single logit is returned as it is."""
    if values.shape[1] == 1:
        return values[:, :1]
    log_p = values.log_softmax(-1)
    others = log_p.clone()
    others[:, index] = float("-inf")
    return (log_p[:, index] - others.logsumexp(-1))[:, None]


def _log_odds(index: int, n_labels: int):
    return lambda model, batch: log_odds(logits(model, batch), index)


def _column(index: int):
    return lambda model, batch: logits(model, batch)[:, index : index + 1]


def _mean_log_prob(shift: bool):
    return lambda model, batch: mean_log_prob(model, batch, shift)


def target_index(config: Any, columns: list[str], target: str | None, model_name: str = "the model") -> int:
    """The position of label ``target`` (a label name or a ``predict`` column; None: the last label)."""
    labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    if target is None:
        return len(labels) - 1
    if target in labels or target in columns:
        return labels.index(target) if target in labels else columns.index(target)
    raise OptionError(f"unknown target {target!r} for {model_name}; its labels are {', '.join(labels)}")


def target_head(head: str, config: Any, target: str | None = None, model_name: str = "the model") -> tuple[Head, str]:
    """The head whose single output an attribution explains, and the target's name (stated in outputs).

    Args:
        head: the model's head (:data:`dnallm.heads.HEADS` name).
        config: the model's config (labels).
        target: a label name, or None for the default (the last label; the model's own output for LMs).
    """
    if HEADS[head].compute is None:
        raise DnallmError(f"{model_name} is a bare encoder without a prediction head: there is no output to attribute")
    if head in ("masked_lm", "causal_lm"):
        if target not in (None, "mean_log_prob"):
            raise OptionError(f"{model_name} is a language model: its only target is mean_log_prob, not {target!r}")
        return Head("target_mean_log_prob", lambda c: ["mean_log_prob"], _mean_log_prob(head == "causal_lm")), \
            "mean_log_prob"
    columns = HEADS[head].columns(config)
    index = target_index(config, columns, target, model_name)
    name = columns[index]
    if head == "classification":
        compute = _log_odds(index, config.num_labels)
    else:  # regression values and multilabel logits (the log-odds of a sigmoid) are explained as they are
        compute = _column(index)
    return Head(f"target_{name}", lambda c, n=name: [n], compute), name
