"""Motif discovery from a model: per-bp scores of the positives, then the discovery that fits them.

``scores``:

- ``attention``: the per-bp attention received (one layer, or ``"all"`` layers averaged), into the k-mer
  enrichment path of :func:`dnallm.motifs.discover_motifs` (attention has no sign, so it is not a contribution);
- ``ism``, ``integrated_gradients``, ``gradient_x_input``: :mod:`dnallm.attribution` scores of the target into
  TF-MoDISco (:func:`dnallm.modisco.discover_from_contributions`);
- ``auto`` (the default): :data:`AUTO_SCORES`, attention over all layers (chosen by the comparison in
  docs/attribution.md).

Either way the motifs are matched to JASPAR with Tomtom, and a result without motifs comes with
:func:`why_empty`: what was tested and what to try.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dnallm.errors import OptionError

logger = logging.getLogger(__name__)

#: the per-bp scores ``dnallm motifs --scores`` takes
SCORES = ("auto", "attention", "ism", "integrated_gradients", "gradient_x_input")
#: what ``auto`` runs: attention averaged over all layers, into the k-mer path (the default ``layer="all"``).
#: Measured by benchmarks/attribution_methods.py (docs/attribution.md): on the planted-motif model it recovers the
#: planted POU5F1 at rank 1 with the best Tomtom q of all methods, its per-bp AUROC is within 0.06 of the best
#: method on every task, and it costs one forward per record (ISM: 3 L); averaging the layers guards against a
#: model whose last layer looks elsewhere (an issue measured AUROC 0.40 for one model's last layer).
AUTO_SCORES = "attention"


def find_motifs(runner: Any, loaded: Any, positives: Sequence[Any], background: Sequence[Any], *,
                scores: str = "auto", layer: int | str = "all", head: Any = "mean", query: str = "auto",
                target: str | None = None, progress: bool = False, model_name: str = "the model",
                database: Any = None, **settings: Any) -> Any:
    """Motifs of ``positives`` against ``background`` from this model's per-bp ``scores``.

    Returns a :class:`dnallm.motifs.MotifResult`; ``result.settings["discovery"]`` says which path ran and
    ``result.settings["scores"]`` which scores (``auto`` resolved).
    """
    from dnallm import attribution
    from dnallm.io.options import InputOptions
    from dnallm.motifs import MotifSettings, discover_motifs

    if scores not in SCORES:
        raise OptionError(f"unknown scores {scores!r}; use one of {', '.join(SCORES)}")
    if scores == "auto":
        scores = AUTO_SCORES
        logger.info("motif scores: %s (auto)", scores)
    if scores == "attention":
        if target is not None:
            raise OptionError("attention scores explain no target; leave target out, or use scores='ism' or a "
                              "gradient method")
        tracks = _attention_tracks(runner, loaded, positives, layer, head, query, progress, model_name)
        result = discover_motifs(positives, tracks, background, database=database, **settings)
        result.settings.update(discovery="attention k-mer enrichment", scores=attribution.attention_name(layer))
        return result
    from dnallm.modisco import discover_from_contributions

    scored = attribution.attribute(runner, loaded, positives, scores, target, InputOptions(), progress,
                                   model_name=model_name)
    return discover_from_contributions(positives, scored, background, MotifSettings(**settings),
                                       database=database)


def _attention_tracks(runner: Any, loaded: Any, positives: Sequence[Any], layer: int | str, head: Any, query: str,
                      progress: bool, model_name: str) -> list[Any]:
    from dnallm import attention_capture as capture
    from dnallm import attribution
    from dnallm.io.options import InputOptions
    from dnallm.progress import Progress

    if layer == "all":
        scored = attribution.attribute(runner, loaded, positives, "attention", None, InputOptions(), progress,
                                       layer="all", model_name=model_name)
        return [scored.scores_of(i) for i in range(len(scored.ids))]
    return [capture.attention_track(runner, rec, int(layer), head, query)
            for rec in Progress(positives, desc="attention", unit="records", disable=not progress)]


def why_empty(result: Any) -> str:
    """One paragraph for a result without motifs: what was tested, why nothing passed, what to try."""
    s = result.settings
    table = result.candidates
    alpha = s.get("alpha", 0.05)
    best = f"; the best q was {table.qvalue.min():.2g}" if len(table) else ""
    if s.get("discovery") == "tfmodisco":
        tested = f"TF-MoDISco found {len(table)} patterns in the {s.get('scores')} scores{best} (alpha {alpha})"
        other = ("try --scores ism (slower, exact), or --scores attention --layer all; more positives give "
                 "TF-MoDISco more seqlets (it clusters none under about 100)")
    else:
        tested = f"{len(table)} candidate k-mers from {s.get('scores', 'attention')} tested{best} (alpha {alpha})"
        other = "try --scores gradient_x_input or ism, another --layer (or all), a shorter -k, or a larger --alpha"
    return (f"no motif passed: {tested}, {result.n_positive:,} positives vs {result.n_background:,} background "
            f"sequences; {other}")
