"""From enriched k-mers to position frequency matrices: steps 4 and 5 of :func:`dnallm.motifs.discover_motifs`.

:func:`merge_candidates` groups the candidates around seeds, :func:`count_pfm` counts a group's occurrences in the
positives' high-attention regions into a PFM, :func:`refine_pfm` rescans the regions with it and counts again.
An instance is ``(record id, start, end, strand)``, bp half-open on the record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from dnallm.io.fasta import Record
from dnallm.jaspar import BASES, PFM, base_codes, reverse_complement

Instance = tuple[str, int, int, str]


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


def merge_candidates(significant: pd.DataFrame, k: int, max_mismatches: int, max_width: int) -> list[dict]:
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


def count_pfm(group: dict, positives: Sequence[Record], regions: list, k: int, flank: int,
              min_information: float) -> tuple[PFM, list[Instance]] | None:
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
    pfm = trimmed(counts, min_information) if instances else None
    return None if pfm is None else (pfm, instances)


def refine_pfm(pfm: PFM, positives: Sequence[Record], regions: list, fraction: float,
               min_information: float) -> tuple[PFM, list[Instance]] | None:
    """The best site of ``pfm`` on either strand in every high-attention region, kept when its log-odds score
    (against uniform bases) reaches ``fraction`` of the way from the lowest to the highest score; the PFM counted
    again from those sites."""
    log_odds = np.log2(pfm.probabilities(0.1) / 0.25)  # (width, 4)
    width = len(log_odds)
    low, high = log_odds.min(1).sum(), log_odds.max(1).sum()
    threshold = low + fraction * (high - low)
    table = np.hstack([log_odds, np.full((width, 1), -np.inf)])  # (width, 5): code 4 (N) scores -inf
    columns = np.arange(width)[None, :]
    complement = np.array([3, 2, 1, 0, 4])
    counts = np.zeros((width, 4))
    instances = []
    for rec, recs in zip(positives, regions):
        codes = base_codes(rec.seq)
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
    refined = trimmed(counts, min_information) if instances else None
    return None if refined is None else (refined, instances)


def trimmed(counts: np.ndarray, min_information: float) -> PFM | None:
    """The PFM of ``counts`` without its edge columns of less than ``min_information`` bits (None if all are)."""
    keep = np.flatnonzero(PFM("", "", counts).information() >= min_information)
    return PFM("", "", counts[keep[0] : keep[-1] + 1]) if len(keep) else None
