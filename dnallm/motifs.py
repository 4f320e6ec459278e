"""Motif discovery from attention, after the DNABERT papers' recipe, and comparison with JASPAR.

Pipeline (every threshold is a parameter of :func:`discover_motifs`):

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
6. **JASPAR**: each PFM against every database motif over all offsets (overlap of at least 5 columns) and both
   strands; the score is the sum of column Pearson correlations divided by the longer of the two widths (1 for
   an identical motif); the table gives the best matches with their rank among all database motifs.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dnallm.errors import DnallmError, InputError
from dnallm.io.fasta import Record

logger = logging.getLogger(__name__)

BASES = "ACGT"
JASPAR_FILE = Path(__file__).resolve().parent / "data" / "JASPAR2022_CORE_vertebrates.pfm"
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


# ---------------------------------------------------------------------------------------------------------------
# position frequency matrices and JASPAR


@dataclass(frozen=True, eq=False)
class PFM:
    """A position frequency matrix: ``counts`` is ``(width, 4)``, columns A C G T."""

    id: str
    name: str
    counts: np.ndarray

    @property
    def width(self) -> int:
        return len(self.counts)

    def probabilities(self, pseudocount: float = 0.01) -> np.ndarray:
        """Per-position base probabilities, each row smoothed by ``pseudocount`` times its total."""
        totals = self.counts.sum(1, keepdims=True)
        smoothed = self.counts + pseudocount * np.maximum(totals, 1) / 4
        return smoothed / smoothed.sum(1, keepdims=True)

    def information(self) -> np.ndarray:
        """Information content of each position, in bits (0 to 2)."""
        p = self.probabilities()
        return 2 + (p * np.log2(p)).sum(1)

    @property
    def consensus(self) -> str:
        """IUPAC consensus (a base above 50 %, a two-base code for two bases above 75 % together, else N)."""
        pairs = {"AC": "M", "AG": "R", "AT": "W", "CG": "S", "CT": "Y", "GT": "K"}
        out = []
        for row in self.probabilities():
            order = np.argsort(row)[::-1]
            if row[order[0]] >= 0.5:
                out.append(BASES[order[0]])
            elif row[order[0]] + row[order[1]] >= 0.75:
                out.append(pairs["".join(sorted(BASES[order[0]] + BASES[order[1]]))])
            else:
                out.append("N")
        return "".join(out)

    def reverse_complement(self) -> PFM:
        return PFM(self.id, self.name, self.counts[::-1, ::-1].copy())


def read_jaspar(path: str | Path | None = None) -> list[PFM]:
    """Read motifs in the JASPAR/MEME-style text layout dnallm ships: a ``>ID NAME`` (or ``>ID_ID.NAME``) line,
    then one row per position with the A C G T counts; or JASPAR's bracket format (``A [ 1 2 ... ]``).

    Default: JASPAR 2022 CORE vertebrates, non-redundant (838 motifs; CC BY 4.0), shipped with dnallm.
    """
    path = Path(path) if path is not None else JASPAR_FILE
    text = path.read_text(encoding="utf-8")
    motifs: list[PFM] = []
    header: str | None = None
    rows: list[list[float]] = []

    def flush() -> None:
        if header is None:
            return
        matrix = np.array(rows, dtype=float)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise DnallmError(f"{path}: motif '{header}' has no rows")
        if matrix.shape[1] != 4 and matrix.shape[0] == 4:  # JASPAR brackets: 4 rows of positions
            matrix = matrix.T
        if matrix.shape[1] != 4:
            raise DnallmError(f"{path}: motif '{header}' does not have 4 columns (A C G T)")
        motif_id, name = _split_header(header)
        motifs.append(PFM(motif_id, name, matrix))

    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(">"):
            flush()
            header, rows = line[1:].strip(), []
            continue
        if header is None:
            raise DnallmError(f"{path}:{lineno}: numbers before the first '>' header")
        values = re.sub(r"^[ACGT]\s*\[|\]", " ", line).split()
        try:
            rows.append([float(v) for v in values])
        except ValueError:
            raise DnallmError(f"{path}:{lineno}: expected counts, found {line!r}") from None
    flush()
    if not motifs:
        raise DnallmError(f"{path}: no motifs")
    return motifs


def _split_header(header: str) -> tuple[str, str]:
    parts = header.split(None, 1)
    if len(parts) == 2:
        return parts[0], parts[1]
    match = re.fullmatch(r"(MA\d+\.\d+)_\1\.(.+)", header)  # gimmemotifs' JASPAR ids: MA0004.1_MA0004.1.Arnt
    if match:
        return match.group(1), match.group(2)
    return header, header


def _standardise(probabilities: np.ndarray) -> np.ndarray:
    """Centre and scale each column vector, so that a dot product over 4 bases / 4 is Pearson's r."""
    centred = probabilities - probabilities.mean(1, keepdims=True)
    norm = np.sqrt((centred**2).sum(1, keepdims=True))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 1e-12)


def similarity(query: np.ndarray, target: np.ndarray, min_overlap: int = 5) -> tuple[float, int, str]:
    """Best alignment of two probability matrices over offsets and the query's two strands.

    Returns:
        (score, offset, strand): score = sum of column Pearson correlations over the overlap, divided by the longer
        width; offset = target column aligned with the query's first column (may be negative); strand ``+`` or
        ``-`` (the query reverse-complemented).
    """
    best = (-math.inf, 0, "+")
    t = _standardise(target)
    for strand, q in (("+", query), ("-", query[::-1, ::-1])):
        qs = _standardise(q)
        corr = qs @ t.T  # (query width, target width) column correlations
        lq, lt = corr.shape
        need = min(min_overlap, lq, lt)
        for offset in range(-(lq - need), lt - need + 1):
            lo, hi = max(0, -offset), min(lq, lt - offset)
            score = float(np.trace(corr[lo:hi, lo + offset : hi + offset])) / max(lq, lt)
            if score > best[0]:
                best = (score, offset, strand)
    return best


@dataclass(frozen=True)
class Match:
    """A database motif matched to a discovered one."""

    id: str
    name: str
    score: float
    rank: int
    offset: int
    strand: str


def match_database(pfm: PFM, database: Sequence[PFM], top: int = 3) -> list[Match]:
    """The ``top`` database motifs most similar to ``pfm`` (see :func:`similarity`), rank 1 first."""
    query = pfm.probabilities()
    scored = [(similarity(query, target.probabilities()), target) for target in database]
    scored.sort(key=lambda item: -item[0][0])
    return [
        Match(target.id, target.name, score, rank, offset, strand)
        for rank, ((score, offset, strand), target) in enumerate(scored[:top], 1)
    ]


# ---------------------------------------------------------------------------------------------------------------
# discovery


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

    def table(self) -> pd.DataFrame:
        """One row per motif: rank, consensus, width, instances, positives and background sequences holding the
        seed k-mer group, p and q of the seed, and the best JASPAR matches."""
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
                row[f"match{i}"] = f"{match.id} {match.name}"
                row[f"match{i}_score"] = round(match.score, 3)
            rows.append(row)
        if not rows:  # no motif: the table keeps its header, so that it reads back with its columns
            return pd.DataFrame(columns=["rank", "motif", "consensus", "width", "instances", "seed", "kmers",
                                         "positives_with", "background_with", "pvalue", "qvalue", "similar_seeds"])
        return pd.DataFrame(rows)


def discover_motifs(
    positives: Sequence[Record],
    scores: Sequence[np.ndarray],
    background: Sequence[Record],
    *,
    k: int = 8,
    min_len: int = 5,
    min_ratio: float = 10.0,
    max_len: int | None = 30,
    alpha: float = 0.05,
    min_instances: int = 3,
    max_mismatches: int = 1,
    max_width: int = 16,
    flank: int = 3,
    min_information: float = 0.3,
    duplicate: float = 0.9,
    refine: float | None = 0.7,
    max_motifs: int = 10,
    database: Sequence[PFM] | None = None,
    top_matches: int = 3,
) -> MotifResult:
    """Find motifs where the per-bp ``scores`` of the positives are high, enriched over the background.

    Args:
        positives: sequences of the class of interest.
        scores: one per-bp score array per positive (attention received, from :meth:`DNAInference.attention_track`).
        background: sequences to compare with.
        k: candidate k-mer length.
        min_len, min_ratio, max_len: high-attention regions (see :func:`high_attention_regions`).
        alpha: Benjamini-Hochberg q-value cut-off for candidates.
        min_instances: fewest positives holding a candidate, and fewest occurrences behind a PFM.
        max_mismatches: merging: mismatches allowed between a candidate and a member of a motif.
        max_width: merging stops growing a motif past this many bases (before flanks).
        flank: bases added on each side of an occurrence before counting.
        min_information: edge columns under this many bits are trimmed from the PFMs.
        duplicate: a motif whose PFM matches an earlier one at least this well (:func:`similarity`) is not
            reported again; its seed is listed under the earlier one's ``similar``.
        refine: rescan with the PFM: in every high-attention region the best site on either strand whose
            log-odds score reaches this fraction of the way from the PFM's lowest to its highest score becomes an
            instance, and the PFM is recounted from those sites; None keeps the k-mer instances.
        max_motifs: most motifs returned.
        database: motifs to match (default JASPAR 2022 CORE vertebrates); ``[]`` skips matching.
        top_matches: database matches kept per motif.
    """
    from scipy.stats import false_discovery_control, hypergeom

    if len(scores) != len(positives):
        raise InputError(f"{len(scores)} score tracks for {len(positives)} positive sequences")
    for rec, track in zip(positives, scores):
        if len(track) != len(rec.seq):
            raise InputError(f"record '{rec.id}': {len(track)} scores for {len(rec.seq)} bp")
    if not positives or not background:
        raise InputError("motif discovery needs positive and background sequences")
    settings = dict(k=k, min_len=min_len, min_ratio=min_ratio, max_len=max_len, alpha=alpha,
                    min_instances=min_instances, max_mismatches=max_mismatches, max_width=max_width, flank=flank)

    regions = [high_attention_regions(s, min_len, min_ratio, max_len) for s in scores]
    candidates = set()
    for rec, recs in zip(positives, regions):
        for start, end in recs:
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
    table = table.sort_values(["pvalue", "positives_with"], ascending=[True, False], ignore_index=True)
    significant = table[(table.qvalue <= alpha) & (table.positives_with >= min_instances)]
    logger.info("%d candidate %d-mers in high-attention regions, %d enriched (q <= %g)",
                len(table), k, len(significant), alpha)

    groups = _merge(significant, k, max_mismatches, max_width)
    motifs: list[DiscoveredMotif] = []
    for group in groups:
        motif = _build(group, positives, regions, k, flank, min_information)
        if motif is not None and refine:
            motif = _refine(motif, positives, regions, refine, min_information)
        if motif is None or len(motif.instances) < min_instances:
            continue
        probabilities = motif.pfm.probabilities()
        twin = next((m for m in motifs if similarity(probabilities, m.pfm.probabilities())[0] >= duplicate), None)
        if twin is not None:  # the same motif reached from another seed (a palindrome's halves, say)
            twin.similar.append(motif.seed)
            continue
        motifs.append(motif)
        if len(motifs) == max_motifs:
            break
    if database is None:
        database = read_jaspar()
    for i, motif in enumerate(motifs, 1):
        motif.pfm = PFM(f"dnallm_motif_{i}", motif.consensus, motif.pfm.counts)
        if database:
            motif.matches = match_database(motif.pfm, database, top_matches)
    return MotifResult(motifs, table, n_pos, n_bg, settings)


def _neighbours(oriented: str, offset: int, mismatches: int) -> Iterator[tuple[str, int]]:
    """Every k-mer that sits on ``oriented`` (placed at seed column ``offset``) ungapped, shifted by at most one
    base, with at most ``mismatches`` mismatches in the overlap; with the seed column of its first base."""
    k = len(oriented)
    for shift in (0, -1, 1):
        # the candidate's bases that overlap `oriented`, then the one free base at the end it sticks out of
        overlap = oriented[max(0, shift) : k + min(0, shift)]
        for core in _variants(overlap, mismatches):
            if shift == 0:
                yield core, offset
            for base in BASES if shift else ():
                yield (core + base if shift > 0 else base + core), offset + shift


def _variants(text: str, mismatches: int) -> Iterator[str]:
    yield text
    if mismatches:
        for i, original in enumerate(text):
            for base in BASES:
                if base != original:
                    yield text[:i] + base + text[i + 1 :]


def _merge(significant: pd.DataFrame, k: int, max_mismatches: int, max_width: int) -> list[dict]:
    """Greedy grouping, most significant first. A candidate joins the first group it fits: aligned to the group's
    seed (ungapped, either strand, shifted by at most one base, at most ``max_mismatches`` mismatches) or
    overlapping another member exactly but for one base at an end, so that a chain of merges cannot drift from
    the seed; and only while the group stays at most ``max_width`` bases wide. Otherwise it seeds a new group.
    An index from every k-mer that would fit to its places keeps this linear in the candidates."""
    groups: list[dict] = []
    index: dict[str, list[tuple[int, int, str]]] = {}

    def register(group_id: int, oriented: str, offset: int, mismatches: int) -> None:
        for text, place in _neighbours(oriented, offset, mismatches):
            index.setdefault(text, []).append((group_id, place, "+"))
            index.setdefault(reverse_complement(text), []).append((group_id, place, "-"))

    for row in significant.itertuples(index=False):
        placed = None
        for group_id, offset, strand in index.get(row.kmer, ()):
            group = groups[group_id]
            offsets = [m[1] for m in group["members"]] + [offset]
            if max(offsets) - min(offsets) + k <= max_width:
                placed = (group_id, offset, strand)
                break
        if placed is None:
            groups.append({"seed": row.kmer, "members": [(row.kmer, 0, "+")], "pvalue": row.pvalue,
                           "qvalue": row.qvalue, "positives_with": row.positives_with,
                           "background_with": row.background_with})
            register(len(groups) - 1, row.kmer, 0, max_mismatches)
            continue
        group_id, offset, strand = placed
        groups[group_id]["members"].append((row.kmer, offset, strand))
        register(group_id, row.kmer if strand == "+" else reverse_complement(row.kmer), offset, 0)
    return groups


def _padded(seq: str, start: int, end: int) -> str:
    """``seq[start:end]`` with N where the range runs off either end."""
    return "N" * max(0, -start) + seq[max(0, start) : min(len(seq), end)] + "N" * max(0, end - len(seq))


def _build(group: dict, positives: Sequence[Record], regions: list, k: int, flank: int,
           min_information: float) -> DiscoveredMotif | None:
    """Count every occurrence of the group's k-mers inside the positives' high-attention regions into one PFM,
    each occurrence oriented and placed as its k-mer aligns to the seed."""
    members = group["members"]
    lo = min(offset for _, offset, _ in members) - flank  # the motif's columns, in seed coordinates
    hi = max(offset for _, offset, _ in members) + k + flank
    width = hi - lo
    patterns: dict[str, tuple[int, str]] = {}
    for kmer, offset, strand in members:
        oriented = kmer if strand == "+" else reverse_complement(kmer)  # as it sits against the seed
        patterns.setdefault(reverse_complement(oriented), (offset, "-"))
        patterns[oriented] = (offset, "+")
    counts = np.zeros((width, 4))
    index = {b: i for i, b in enumerate(BASES)}
    instances = []
    for rec, recs in zip(positives, regions):
        seen = set()
        for start, end in recs:
            for i in range(start, end - k + 1):
                word = rec.seq[i : i + k]
                if word not in patterns:
                    continue
                offset, strand = patterns[word]
                if strand == "+":  # seed column x sits at i - offset + x
                    left = i - offset + lo
                    window = _padded(rec.seq, left, left + width)
                else:  # on the reverse strand: seed column x sits at i + k - 1 - (x - offset)
                    left = i + k + offset - hi
                    window = reverse_complement(_padded(rec.seq, left, left + width))
                if (left, strand) in seen:  # several k-mers of one site
                    continue
                seen.add((left, strand))
                instances.append((rec.id, left, left + width, strand))
                for column, base in enumerate(window):
                    if base in index:
                        counts[column, index[base]] += 1
    pfm = _trimmed(counts, min_information) if instances else None
    if pfm is None:
        return None
    return DiscoveredMotif(pfm, [m[0] for m in members], group["seed"], group["pvalue"], group["qvalue"],
                           group["positives_with"], group["background_with"], instances)


def _refine(motif: DiscoveredMotif, positives: Sequence[Record], regions: list, fraction: float,
            min_information: float) -> DiscoveredMotif | None:
    log_odds = np.log2(motif.pfm.probabilities(0.1) / 0.25)  # (width, 4)
    width = len(log_odds)
    low, high = log_odds.min(1).sum(), log_odds.max(1).sum()
    threshold = low + fraction * (high - low)
    code = np.full(256, 4, dtype=np.int64)
    for i, base in enumerate(BASES):
        code[ord(base)] = i
    table = np.hstack([log_odds, np.full((width, 1), -np.inf)])  # (width, 5): code 4 (N) scores -inf
    columns = np.arange(width)[None, :]
    complement = np.array([3, 2, 1, 0, 4])
    counts = np.zeros((width, 4))
    instances = []
    for rec, recs in zip(positives, regions):
        codes = code[np.frombuffer(rec.seq.encode(), dtype=np.uint8)]
        for start, end in recs:
            lo, hi = max(0, start - width + 1), min(len(codes), end + width - 1)  # sites overlapping the region
            if hi - lo < width:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(codes[lo:hi], width)  # (n, width)
            forward = table[columns, windows].sum(1)
            reverse = table[columns, complement[windows[:, ::-1]]].sum(1)  # the site read on the other strand
            both = np.stack([forward, reverse])
            strand, best = np.unravel_index(np.argmax(both), both.shape)
            if both[strand, best] < threshold:
                continue
            site = rec.seq[lo + best : lo + best + width]
            oriented = site if strand == 0 else reverse_complement(site)
            for column, base in enumerate(oriented):
                counts[column, BASES.index(base)] += 1
            instances.append((rec.id, int(lo + best), int(lo + best + width), "+-"[strand]))
    pfm = _trimmed(counts, min_information) if instances else None
    if pfm is None:
        return None
    motif.pfm = pfm
    motif.instances = instances
    return motif


def _trimmed(counts: np.ndarray, min_information: float) -> PFM | None:
    """The PFM of ``counts`` without its edge columns of less than ``min_information`` bits (None if all are)."""
    keep = np.flatnonzero(PFM("", "", counts).information() >= min_information)
    return PFM("", "", counts[keep[0] : keep[-1] + 1]) if len(keep) else None


# ---------------------------------------------------------------------------------------------------------------
# output


def write_meme(motifs: Sequence[DiscoveredMotif] | Sequence[PFM], path: str | Path) -> None:
    """MEME minimal motif format (for Tomtom, FIMO and other MEME-suite tools)."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for item in motifs:
        pfm = item.pfm if isinstance(item, DiscoveredMotif) else item
        sites = int(round(pfm.counts.sum(1).max()))
        lines.append(f"MOTIF {pfm.id} {pfm.consensus}")
        lines.append(f"letter-probability matrix: alength= 4 w= {pfm.width} nsites= {sites} E= 0")
        probabilities = pfm.counts / np.maximum(pfm.counts.sum(1, keepdims=True), 1e-12)
        lines.extend("  ".join(f"{v:.6f}" for v in row) for row in probabilities)
        lines.append("")
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def write_pfms(motifs: Sequence[DiscoveredMotif], folder: str | Path) -> list[Path]:
    """One file per motif, ``<id>.pfm``: a ``>ID CONSENSUS`` line, then one row per position with the A C G T
    counts (the layout :func:`read_jaspar` reads)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for motif in motifs:
        path = folder / f"{motif.pfm.id}.pfm"
        rows = "\n".join("\t".join(f"{v:g}" for v in row) for row in motif.pfm.counts)
        path.write_text(f">{motif.pfm.id} {motif.consensus}\n{rows}\n", encoding="utf-8")
        paths.append(path)
    return paths


def plot_logos(motifs: Sequence[DiscoveredMotif], path: str | Path | None = None, columns: int = 2):
    """Information-content sequence logos (logomaker), one panel per motif with its best JASPAR match.

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
        match = f"\nbest match {best.id} {best.name} (similarity {best.score:.2f})" if best else ""
        ax.set_title(f"{motif.pfm.id}: {motif.consensus}, {len(motif.instances)} sites{match}", fontsize=8,
                     loc="left")
    for ax in axes.ravel()[len(motifs) :]:
        ax.set_visible(False)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
