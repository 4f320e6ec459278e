"""Position frequency matrices, the JASPAR database, motif similarity and the MEME / PFM file formats.

Similarity: a PFM against a database motif over all offsets (overlap of at least 5 columns) and both strands;
the score is the sum of column Pearson correlations divided by the longer of the two widths (1 for an identical
motif). :func:`match_database` ranks a whole database by it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnallm.errors import DnallmError

BASES = "ACGT"
JASPAR_FILE = Path(__file__).resolve().parent / "data" / "JASPAR2022_CORE_vertebrates.pfm"
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(seq: str) -> str:
    """The reverse complement of a sequence over A C G T N."""
    return seq.translate(_COMPLEMENT)[::-1]


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
# files


def write_meme(motifs: Sequence[Any], path: str | Path) -> None:
    """MEME minimal motif format (for Tomtom, FIMO and other MEME-suite tools); ``motifs`` are PFMs or
    :class:`~dnallm.motifs.DiscoveredMotif` (their ``pfm``)."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for item in motifs:
        pfm = item if isinstance(item, PFM) else item.pfm
        sites = int(round(pfm.counts.sum(1).max()))
        lines.append(f"MOTIF {pfm.id} {pfm.consensus}")
        lines.append(f"letter-probability matrix: alength= 4 w= {pfm.width} nsites= {sites} E= 0")
        probabilities = pfm.counts / np.maximum(pfm.counts.sum(1, keepdims=True), 1e-12)
        lines.extend("  ".join(f"{v:.6f}" for v in row) for row in probabilities)
        lines.append("")
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def write_pfms(motifs: Sequence[Any], folder: str | Path) -> list[Path]:
    """One file per :class:`~dnallm.motifs.DiscoveredMotif`, ``<id>.pfm``: a ``>ID CONSENSUS`` line, then one row per position with the A C G T
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
