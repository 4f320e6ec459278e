"""Motif discovery from attention, after the DNABERT papers' recipe, and comparison with JASPAR.

Pipeline (every threshold is a field of :class:`MotifSettings`, and a keyword of :func:`discover_motifs`):

1. **High-attention regions** of each positive sequence: runs of at least ``min_len`` bases whose per-bp score
   is above the sequence's mean and above ``min_ratio`` times its minimum.
2. **Candidates**: the k-mers inside those regions (reverse complements counted as one).
3. **Enrichment**: for each candidate, the positive and background sequences that contain it (either strand);
   one-sided hypergeometric test of the positives' share, Benjamini-Hochberg over all candidates, kept when
   ``q <= alpha`` and found in at least ``min_instances`` positives.
4. **Merging**: candidates, most significant first, join the first motif whose seed they align to (ungapped,
   both strands, shifted by at most one base, at most ``max_mismatches`` mismatches) or one of whose other k-mers
   they overlap exactly but for one base at an end, placed against the seed through that k-mer, while the motif
   stays at most ``max_width`` bases wide; otherwise they seed a new motif.
5. **PFMs**: every occurrence of a motif's k-mers inside a positive's high-attention region, oriented and
   placed by the alignment to the seed and widened by ``flank`` bases, counted into a position frequency matrix;
   low-information edge columns are trimmed. Then one refinement: the PFM scans each high-attention region
   (both strands, log-odds against uniform bases), the best site per region scoring at least ``refine`` of the
   way from the matrix's lowest to its highest score is an instance, and the PFM is counted again from them.
   Motifs with fewer than ``min_instances`` instances are dropped, and so is a motif whose PFM matches an
   earlier one (``duplicate``), noted under the earlier one.
6. **JASPAR**: Tomtom (memelite; :mod:`dnallm.tomtom`) compares all PFMs with every database motif in one call,
   over all offsets and both strands: per match a p-value, an E-value (p x the number of database motifs) and a
   q-value (Benjamini-Hochberg over the motif's p-values against the whole database); the table gives the
   ``top_matches`` best by p-value.

Steps 4 and 5 live in :mod:`dnallm.motif_pfms`, PFMs, JASPAR and the MEME / PFM files in :mod:`dnallm.jaspar`,
Tomtom in :mod:`dnallm.tomtom` (their names are importable from here too). The duplicate check of step 5 uses
:func:`similarity` (column correlations), not Tomtom.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnallm.errors import DnallmError, InputError, OptionError
from dnallm.io.fasta import Record
from dnallm.jaspar import (
    BASES,
    JASPAR_FILE,
    PFM,
    Match,
    read_jaspar,
    reverse_complement,
    similarity,
    write_meme,
    write_pfms,
)
from dnallm.motif_pfms import count_pfm, merge_candidates, refine_pfm
from dnallm.tomtom import tomtom_matches

__all__ = [
    "BASES", "JASPAR_FILE", "PFM", "DiscoveredMotif", "Match", "MotifResult", "MotifSettings", "discover_motifs",
    "high_attention_regions", "plot_logos", "read_jaspar", "reverse_complement", "similarity", "tomtom_matches",
    "write_meme", "write_pfms",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotifSettings:
    """The tuning of :func:`discover_motifs`, checked when made (lengths in bp).

    Raises:
        OptionError: a count or length out of its range, ``alpha`` outside (0, 1], ``refine`` outside [0, 1].
    """

    #: candidate k-mer length
    k: int = 8
    #: high-attention regions (see :func:`high_attention_regions`): shortest run, ratio to the minimum, longest run
    min_len: int = 5
    min_ratio: float = 10.0
    max_len: int | None = 30
    #: Benjamini-Hochberg q-value cut-off for candidates
    alpha: float = 0.05
    #: fewest positives holding a candidate, and fewest occurrences behind a PFM
    min_instances: int = 3
    #: merging: mismatches allowed between a candidate and a member of a motif
    max_mismatches: int = 1
    #: merging stops growing a motif past this many bases (before flanks)
    max_width: int = 16
    #: bases added on each side of an occurrence before counting
    flank: int = 3
    #: edge columns under this many bits are trimmed from the PFMs
    min_information: float = 0.3
    #: a motif whose PFM matches an earlier one at least this well (:func:`similarity`, column correlations; only
    #: this duplicate check uses it, database matches are Tomtom's) is not reported again; its seed is listed
    #: under the earlier one's ``similar``
    duplicate: float = 0.9
    #: rescan with the PFM: in every high-attention region the best site on either strand whose log-odds score
    #: reaches this fraction of the way from the PFM's lowest to its highest score becomes an instance, and the PFM
    #: is recounted from those sites; None keeps the k-mer instances
    refine: float | None = 0.7
    #: most motifs returned
    max_motifs: int = 10
    #: database matches kept per motif
    top_matches: int = 3

    def __post_init__(self) -> None:
        at_least = {"k": 1, "min_len": 1, "max_width": 1, "max_motifs": 1,
                    "min_instances": 0, "max_mismatches": 0, "flank": 0, "top_matches": 0}
        if self.max_len is not None:
            at_least["max_len"] = 1
        for name, low in at_least.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise OptionError(f"motif setting {name} must be an integer >= {low}, not {value!r}")
        if not 0 < self.alpha <= 1:
            raise OptionError(f"motif setting alpha must be in (0, 1], not {self.alpha!r}")
        if self.refine is not None and not 0 <= self.refine <= 1:
            raise OptionError(f"motif setting refine must be in [0, 1] or None, not {self.refine!r}")

    def reported(self) -> dict[str, Any]:
        """The settings :attr:`MotifResult.settings` records."""
        names = ("k", "min_len", "min_ratio", "max_len", "alpha", "min_instances", "max_mismatches", "max_width",
                 "flank")
        return {name: getattr(self, name) for name in names}


def high_attention_regions(
    scores: np.ndarray, min_len: int = 5, min_ratio: float = 10.0, max_len: int | None = None
) -> list[tuple[int, int]]:
    """Runs of bases scoring above the sequence's mean and above ``min_ratio`` x its minimum, at least
    ``min_len`` long; a run longer than ``max_len`` is cut to the ``max_len`` bases around its peak.

    Returns:
        ``[(start, end), ...]`` in bp, half-open.
    """
    scores = np.asarray(scores, dtype=float)
    if not len(scores):
        return []
    keep = (scores > scores.mean()) & (scores > min_ratio * scores.min())
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    regions = []
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start < min_len:
            continue
        if max_len is not None and end - start > max_len:
            peak = start + int(np.argmax(scores[start:end]))
            start = min(max(start, peak - max_len // 2), end - max_len)
            end = start + max_len
        regions.append((int(start), int(end)))
    return regions


def _canonical(kmer: str) -> str:
    return min(kmer, reverse_complement(kmer))


def _presence(records: Sequence[Record], k: int) -> Counter:
    """canonical k-mer -> number of sequences holding it on either strand."""
    counts: Counter = Counter()
    for rec in records:
        counts.update({_canonical(rec.seq[i : i + k]) for i in range(len(rec.seq) - k + 1)})
    return counts


@dataclass(eq=False)
class DiscoveredMotif:
    """One motif found from attention."""

    pfm: PFM
    kmers: list[str]
    seed: str
    pvalue: float
    qvalue: float
    positives_with: int
    background_with: int
    instances: list[tuple[str, int, int, str]] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    similar: list[str] = field(default_factory=list)

    @property
    def consensus(self) -> str:
        return self.pfm.consensus


@dataclass(eq=False)
class MotifResult:
    """What :func:`discover_motifs` found: motifs ranked by the seed's enrichment, and every tested candidate."""

    motifs: list[DiscoveredMotif]
    candidates: pd.DataFrame
    n_positive: int
    n_background: int
    settings: dict
    """the main settings it ran with (see :meth:`MotifSettings.reported`)"""
    top_matches: int = 3
    """database matches per motif the table has columns for"""

    def table(self) -> pd.DataFrame:
        """One row per motif: rank, consensus, width, instances, positives and background sequences holding the
        seed k-mer group, p and q of the seed, and the best JASPAR matches (Tomtom): ``match{i}_id``,
        ``match{i}_name``, ``match{i}_pvalue``, ``match{i}_evalue``, ``match{i}_qvalue`` for i = 1 ..
        ``top_matches``. Without motifs the table still has every column, so that it reads back with its header."""
        columns = list(_COLUMNS) + [f"match{i}_{what}" for i in range(1, self.top_matches + 1) for what in _MATCH]
        rows = []
        for rank, motif in enumerate(self.motifs, 1):
            row = {
                "rank": rank,
                "motif": motif.pfm.id,
                "consensus": motif.consensus,
                "width": motif.pfm.width,
                "instances": len(motif.instances),
                "seed": motif.seed,
                "kmers": len(motif.kmers),
                "positives_with": motif.positives_with,
                "background_with": motif.background_with,
                "pvalue": motif.pvalue,
                "qvalue": motif.qvalue,
                "similar_seeds": " ".join(motif.similar),
            }
            for i, match in enumerate(motif.matches, 1):
                row.update({f"match{i}_{what}": getattr(match, what) for what in _MATCH})
            rows.append(row)
        table = pd.DataFrame(rows)
        return table.reindex(columns=columns + [c for c in table.columns if c not in columns])


_COLUMNS = ("rank", "motif", "consensus", "width", "instances", "seed", "kmers", "positives_with", "background_with",
            "pvalue", "qvalue", "similar_seeds")
_MATCH = ("id", "name", "pvalue", "evalue", "qvalue")


def discover_motifs(
    positives: Sequence[Record],
    scores: Sequence[np.ndarray],
    background: Sequence[Record],
    settings: MotifSettings | None = None,
    *,
    database: Sequence[PFM] | None = None,
    **overrides: Any,
) -> MotifResult:
    """Find motifs where the per-bp ``scores`` of the positives are high, enriched over the background.

    Args:
        positives: sequences of the class of interest.
        scores: one per-bp score array per positive (attention received, from :meth:`DNAInference.attention_track`).
        background: sequences to compare with.
        settings: the tuning (default ``MotifSettings()``).
        database: motifs to match with Tomtom (default JASPAR 2022 CORE vertebrates); ``[]`` skips matching.
        overrides: fields of :class:`MotifSettings` to change (``k=6, alpha=0.01``, ...).

    Raises:
        InputError: no positives or background, or scores that do not fit the positives.
        OptionError: a setting out of its range.
        TypeError: a keyword that is not a setting.
        DnallmError: motifs to match and memelite (Tomtom) not installed.
    """
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(MotifSettings)})
    if unknown:
        raise TypeError(f"discover_motifs() got an unexpected keyword argument {unknown[0]!r}")
    s = dataclasses.replace(settings or MotifSettings(), **overrides)
    if len(scores) != len(positives):
        raise InputError(f"{len(scores)} score tracks for {len(positives)} positive sequences")
    for rec, track in zip(positives, scores):
        if len(track) != len(rec.seq):
            raise InputError(f"record '{rec.id}': {len(track)} scores for {len(rec.seq)} bp")
    if not positives or not background:
        raise InputError("motif discovery needs positive and background sequences")

    regions = [high_attention_regions(track, s.min_len, s.min_ratio, s.max_len) for track in scores]
    table = _enrichment(positives, regions, background, s.k)
    significant = table[(table.qvalue <= s.alpha) & (table.positives_with >= s.min_instances)]
    logger.info("%d candidate %d-mers in high-attention regions, %d enriched (q <= %g)",
                len(table), s.k, len(significant), s.alpha)
    motifs = _motifs(significant, positives, regions, s)
    if database is None:
        database = read_jaspar()
    for i, motif in enumerate(motifs, 1):
        motif.pfm = PFM(f"dnallm_motif_{i}", motif.consensus, motif.pfm.counts)
    if database and motifs and s.top_matches:
        for motif, matches in zip(motifs, tomtom_matches([m.pfm for m in motifs], database, s.top_matches)):
            motif.matches = matches
    return MotifResult(motifs, table, len(positives), len(background), s.reported(), s.top_matches)


def _enrichment(positives: Sequence[Record], regions: list, background: Sequence[Record], k: int) -> pd.DataFrame:
    """Steps 2 and 3: every k-mer inside the regions (without N) with the positives and background sequences
    holding it, its hypergeometric p and BH q; most significant first."""
    from scipy.stats import false_discovery_control, hypergeom

    candidates = set()
    for rec, spans in zip(positives, regions):
        for start, end in spans:
            piece = rec.seq[start:end]
            candidates.update(_canonical(piece[i : i + k]) for i in range(len(piece) - k + 1))
    kmers = sorted(c for c in candidates if "N" not in c)
    in_pos = _presence(positives, k)
    in_bg = _presence(background, k)
    n_pos, n_bg = len(positives), len(background)
    table = pd.DataFrame({
        "kmer": kmers,
        "positives_with": np.array([in_pos.get(c, 0) for c in kmers], dtype=np.int64),
        "background_with": np.array([in_bg.get(c, 0) for c in kmers], dtype=np.int64),
    })
    # P(at least this many positives among the sequences holding the k-mer), drawing without replacement
    table["pvalue"] = hypergeom.sf(table.positives_with - 1, n_pos + n_bg, n_pos,
                                   table.positives_with + table.background_with)
    table["qvalue"] = false_discovery_control(table["pvalue"].to_numpy()) if len(table) else []
    return table.sort_values(["pvalue", "positives_with"], ascending=[True, False], ignore_index=True)


def _motifs(significant: pd.DataFrame, positives: Sequence[Record], regions: list,
            s: MotifSettings) -> list[DiscoveredMotif]:
    """Steps 4 and 5: merged groups counted into PFMs (refined), without those under ``min_instances`` or
    duplicating an earlier motif; at most ``max_motifs``."""
    motifs: list[DiscoveredMotif] = []
    for group in merge_candidates(significant, s.k, s.max_mismatches, s.max_width):
        built = count_pfm(group, positives, regions, s.k, s.flank, s.min_information)
        if built is not None and s.refine:
            built = refine_pfm(built[0], positives, regions, s.refine, s.min_information)
        if built is None or len(built[1]) < s.min_instances:
            continue
        pfm, instances = built
        motif = DiscoveredMotif(pfm, [m[0] for m in group["members"]], group["seed"], group["pvalue"],
                                group["qvalue"], group["positives_with"], group["background_with"], instances)
        probabilities = pfm.probabilities()
        twin = next((m for m in motifs if similarity(probabilities, m.pfm.probabilities())[0] >= s.duplicate), None)
        if twin is not None:  # the same motif reached from another seed (a palindrome's halves, say)
            twin.similar.append(motif.seed)
            continue
        motifs.append(motif)
        if len(motifs) == s.max_motifs:
            break
    return motifs


def plot_logos(motifs: Sequence[DiscoveredMotif], path: str | Path | None = None, columns: int = 2):
    """Information-content sequence logos (logomaker), one panel per motif with its best JASPAR match (id, name and
    Tomtom q-value) in the title.

    All panels share one bp scale: a logo's width is proportional to its motif's length (a 4 bp motif takes a
    quarter of the width of a 16 bp one), left-aligned in panels as wide as the longest motif."""
    import logomaker
    import matplotlib.pyplot as plt

    if not motifs:
        raise DnallmError("no motifs to draw")
    rows = -(-len(motifs) // columns)
    longest = max(m.pfm.width for m in motifs)
    panel_width = max(3.6, 0.3 * longest + 0.9)  # inches: about 0.3 inch per bp, room for the axis labels
    fig, axes = plt.subplots(rows, columns, figsize=(panel_width * columns, 2.1 * rows), squeeze=False,
                             layout="constrained")
    for ax, motif in zip(axes.ravel(), motifs):
        probabilities = pd.DataFrame(motif.pfm.probabilities(), columns=list(BASES))
        info = logomaker.transform_matrix(probabilities, from_type="probability", to_type="information")
        logomaker.Logo(info, ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.set_ylabel("bits")
        ax.set_xticks(range(motif.pfm.width), [str(i + 1) for i in range(motif.pfm.width)], fontsize=7)
        ax.set_xlim(-0.5, longest - 0.5)  # the shared bp scale
        ax.spines[["top", "right"]].set_visible(False)
        ax.spines["bottom"].set_bounds(-0.5, motif.pfm.width - 0.5)
        best = motif.matches[0] if motif.matches else None
        match = f"\nbest match {best.id} {best.name} (Tomtom q = {best.qvalue:.2g})" if best else ""
        ax.set_title(f"{motif.pfm.id}: {motif.consensus}, {len(motif.instances)} sites{match}", fontsize=8,
                     loc="left")
    for ax in axes.ravel()[len(motifs) :]:
        ax.set_visible(False)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
