"""TF-MoDISco on per-base attribution scores (modisco-lite): the field's motif discovery from contributions.

Input, as TF-MoDISco takes it (chrombpnet, gReLU and tangermeme build the same arrays):

- ``one_hot`` ``(N, L, 4)``, A C G T, the records' bases (N and padding rows all zero);
- ``hypothetical`` ``(N, L, 4)``: what each base *would* contribute at each position. From ISM, the position's four
  deltas centred on their mean (so the reference column holds the base's per-bp score, ``-mean(ism[i, :])``);
  from a method that scores the reference base only (gradients), the score in the reference column and 0
  elsewhere. TF-MoDISco multiplies the two, so a contribution lives where the reference base is: an array with the
  reference column never filled would give zero everywhere (a mistake an older toolkit made).

Records of different lengths are padded with zero rows to the longest. Patterns come from the positive
contributions (bases that raise the target); each becomes a PFM (the seqlets' mean one-hot times their number,
low-information edges trimmed), its seqlets its instances. Enrichment over the background, as in the k-mer path:
each PFM scans every positive and background sequence (log-odds against uniform bases, both strands; a site
counts when it reaches :data:`SITE_FRACTION` of the way from the matrix's lowest to its highest score), one-sided
hypergeometric test of the positives among the sequences holding a site, Benjamini-Hochberg over the patterns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dnallm.errors import DnallmError, InputError
from dnallm.jaspar import PFM, base_codes

logger = logging.getLogger(__name__)

#: what to install when modisco-lite is missing
INSTALL = "pip install 'dnallm[motifs]'"
#: a PFM's site, in the enrichment scan over whole sequences: a log-odds score at least this fraction of the way
#: from the matrix's lowest to its highest score (stricter than the k-mer path's 0.7 within high-score regions: a
#: 100 bp sequence offers ~180 places on two strands, and at 0.7 most random ones held a site of a 10 bp PFM)
SITE_FRACTION = 0.85


def one_hot(seqs: Sequence[str], length: int | None = None) -> np.ndarray:
    """``(N, length, 4)`` float32 one-hot of A C G T; other letters and the padding past a sequence's end are 0."""
    length = max((len(s) for s in seqs), default=0) if length is None else length
    out = np.zeros((len(seqs), length, 5), dtype=np.float32)
    for n, seq in enumerate(seqs):
        codes = base_codes(seq)
        out[n, np.arange(len(codes)), codes] = 1
    return out[:, :, :4]


def modisco_inputs(records: Sequence[Any], attribution: Any) -> tuple[np.ndarray, np.ndarray]:
    """TF-MoDISco's two arrays, ``(one_hot, hypothetical)``, each ``(N, L, 4)`` float32 (see the module docstring).

    Args:
        records: the attributed records (``.id``, ``.seq``), in the attribution's order.
        attribution: a :class:`dnallm.attribution.Attribution` of those records (ISM deltas used when present).

    Raises:
        InputError: the records and the attribution disagree (ids or lengths).
    """
    ids = [rec.id for rec in records]
    if list(attribution.ids) != ids:
        raise InputError(f"the attribution holds {len(attribution.ids)} records, not the {len(ids)} given "
                         "(or not in their order)")
    seqs = [rec.seq for rec in records]
    hot = one_hot(seqs)
    hypothetical = np.zeros_like(hot)
    for n, seq in enumerate(seqs):
        scores = attribution.scores_of(n)
        if len(scores) != len(seq):
            raise InputError(f"record '{ids[n]}': {len(scores)} scores for {len(seq)} bp")
        if attribution.ism is not None:
            deltas = attribution.ism_of(n).astype(np.float32)
            hypothetical[n, : len(seq)] = deltas - deltas.mean(1, keepdims=True)
        else:
            hypothetical[n, : len(seq)] = hot[n, : len(seq)] * scores[:, None]
    return hot, hypothetical


def tfmodisco_patterns(hot: np.ndarray, hypothetical: np.ndarray, max_seqlets: int = 20000,
                       window: int = 11, flank: int = 5, min_cluster: int = 20, min_seqlets: int = 20) -> list[Any]:
    """modisco-lite's positive patterns (``SeqletSet`` objects; ``[]`` when too few seqlets pass its FDR).

    ``window``: the sliding window for seqlet calling (bp); ``flank``: bp added on each side of a seqlet;
    ``min_cluster``: fewest seqlets of a reported pattern; ``min_seqlets``: fewest seqlets clustered at all;
    ``max_seqlets``: most seqlets clustered. modisco-lite's defaults (window 21, flanks 10, 100 seqlets) are made
    for 1 kb chromatin profiles; dnallm's fit the 100-500 bp inputs of DNA language models and TF motifs of 6-20 bp
    (on 100 bp planted-motif sequences the defaults found too few seqlets to cluster).
    """
    try:
        from modiscolite.tfmodisco import TFMoDISco
    except ImportError:
        raise DnallmError(f"motif discovery from attribution scores needs TF-MoDISco: {INSTALL}") from None
    if hot.shape[1] < window + 2 * flank:
        raise InputError(f"TF-MoDISco needs sequences of at least {window + 2 * flank} bp (window {window} + "
                         f"flanks {flank}); these are {hot.shape[1]} bp")
    positive, _negative = TFMoDISco(
        one_hot=hot, hypothetical_contribs=hypothetical, sliding_window_size=window, flank_size=flank,
        max_seqlets_per_metacluster=max_seqlets, final_min_cluster_size=min_cluster, min_metacluster_size=min_seqlets,
        verbose=False,
    )
    return list(positive or [])


def pattern_pfm(pattern: Any, min_information: float) -> PFM | None:
    """A pattern's PFM: mean one-hot of its seqlets times their number, edges under ``min_information`` trimmed."""
    from dnallm.motif_pfms import trimmed

    counts = np.asarray(pattern.sequence, dtype=float) * len(pattern.seqlets)
    return trimmed(counts, min_information)


def seqlet_instances(pattern: Any, ids: Sequence[str]) -> list[tuple[str, int, int, str]]:
    """A pattern's seqlets as ``(record id, start, end, strand)``, bp half-open on the record."""
    return [(ids[s.example_idx], int(s.start), int(s.end), "-" if s.is_revcomp else "+") for s in pattern.seqlets]


def holding(pfm: PFM, records: Sequence[Any], fraction: float) -> int:
    """How many of ``records`` hold a site of ``pfm`` on either strand (see the module docstring)."""
    from dnallm.motif_pfms import refine_pfm

    usable = [rec for rec in records if len(rec.seq) >= pfm.width]
    found = refine_pfm(pfm, usable, [[(0, len(rec.seq))] for rec in usable], fraction, 0.0)
    return 0 if found is None else len({site[0] for site in found[1]})


def enrichment(pfms: Sequence[PFM], positives: Sequence[Any], background: Sequence[Any],
               fraction: float) -> pd.DataFrame:
    """Per PFM: positives and background sequences holding a site, hypergeometric p, BH q over the PFMs."""
    from scipy.stats import false_discovery_control, hypergeom

    pos = np.array([holding(p, positives, fraction) for p in pfms], dtype=np.int64)
    bg = np.array([holding(p, background, fraction) for p in pfms], dtype=np.int64)
    n_pos, n_bg = len(positives), len(background)
    pvalue = hypergeom.sf(pos - 1, n_pos + n_bg, n_pos, pos + bg) if len(pfms) else np.zeros(0)
    qvalue = false_discovery_control(pvalue) if len(pfms) else np.zeros(0)
    return pd.DataFrame({"positives_with": pos, "background_with": bg, "pvalue": pvalue, "qvalue": qvalue})


def discover_from_contributions(positives: Sequence[Any], attribution: Any, background: Sequence[Any],
                                settings: Any = None, *, database: Sequence[PFM] | None = None,
                                max_seqlets: int = 20000) -> Any:
    """Motifs by TF-MoDISco on the positives' attribution scores, enriched over ``background``, matched to JASPAR
    with Tomtom: a :class:`dnallm.motifs.MotifResult` like the k-mer path's (``settings["discovery"]`` says which
    ran; ``candidates`` lists every pattern with its enrichment, ``motifs`` those at ``q <= alpha`` with at least
    ``min_instances`` seqlets, at most ``max_motifs``).

    Args:
        positives: the attributed records, in the attribution's order.
        attribution: their :class:`dnallm.attribution.Attribution` (ISM, integrated gradients, gradient x input).
        background: sequences to compare with (not attributed).
        settings: a :class:`dnallm.motifs.MotifSettings` (``alpha``, ``min_instances``, ``min_information``,
            ``max_motifs``, ``top_matches``).
        database: motifs to match (default JASPAR 2022 CORE vertebrates); ``[]`` skips matching.
    """
    from dnallm.motifs import DiscoveredMotif, MotifResult, MotifSettings, read_jaspar

    s = settings or MotifSettings()
    if not positives or not background:
        raise InputError("motif discovery needs positive and background sequences")
    hot, hypothetical = modisco_inputs(positives, attribution)
    patterns = tfmodisco_patterns(hot, hypothetical, max_seqlets=max_seqlets)
    ids = [rec.id for rec in positives]
    built = [(pattern_pfm(p, s.min_information), seqlet_instances(p, ids)) for p in patterns]
    built = [(pfm, sites) for pfm, sites in built if pfm is not None]
    table = enrichment([pfm for pfm, _ in built], positives, background, SITE_FRACTION)
    table.insert(0, "consensus", [pfm.consensus for pfm, _ in built])
    table.insert(1, "seqlets", [len(sites) for _, sites in built])
    table.insert(0, "pattern", [f"pattern_{i}" for i in range(len(built))])
    motifs = []
    for (pfm, sites), row in zip(built, table.itertuples(index=False)):
        if row.qvalue <= s.alpha and len(sites) >= s.min_instances and len(motifs) < s.max_motifs:
            motifs.append(DiscoveredMotif(pfm, [], row.consensus, float(row.pvalue), float(row.qvalue),
                                          int(row.positives_with), int(row.background_with), sites))
    logger.info("TF-MoDISco: %d patterns, %d enriched over the background (q <= %g)", len(built), len(motifs),
                s.alpha)
    _name_and_match(motifs, read_jaspar() if database is None else database, s.top_matches)
    reported = {"discovery": "tfmodisco", "scores": attribution.method, "target": attribution.target,
                "alpha": s.alpha, "min_instances": s.min_instances, "site_fraction": SITE_FRACTION}
    return MotifResult(motifs, table, len(positives), len(background), reported)


def _name_and_match(motifs: list[Any], database: Sequence[PFM], top: int) -> None:
    from dnallm.tomtom import tomtom_matches

    for i, motif in enumerate(motifs, 1):
        motif.pfm = PFM(f"dnallm_motif_{i}", motif.consensus, motif.pfm.counts)
    if database and motifs and top:
        for motif, matches in zip(motifs, tomtom_matches([m.pfm for m in motifs], database, top)):
            motif.matches = matches
