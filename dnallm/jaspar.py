"""Position frequency matrices, the JASPAR database, the MEME / PFM file formats, and a quick motif similarity.

Matching against a database is Tomtom's (:mod:`dnallm.tomtom`, :class:`Match`). :func:`similarity` (the sum of
column Pearson correlations over the best alignment, divided by the longer width) only folds duplicate motifs
together during discovery (:mod:`dnallm.motifs`).
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
from dnallm.io.atomic import replaced

BASES = "ACGT"
JASPAR_FILE = Path(__file__).resolve().parent / "data" / "JASPAR2022_CORE_vertebrates.pfm"
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


_CODE = np.full(256, 4, dtype=np.int64)
for _i, _base in enumerate(BASES):
    _CODE[ord(_base)] = _CODE[ord(_base.lower())] = _i


def base_codes(seq: str) -> np.ndarray:
    """``(len(seq),)`` int64 codes: A C G T (either case) 0-3, anything else (N) 4."""
    return _CODE[np.frombuffer(seq.encode(), dtype=np.uint8)]


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
    """Read count matrices in the layouts JASPAR and dnallm use.

    - JASPAR's ``.pfm`` (what :func:`write_pfms` writes): 4 rows, the A C G T counts over positions, no header;
      the motif's id and name are the file name's stem.
    - JASPAR's bracket layout (``>ID NAME``, then ``A [ 1 2 ... ]`` ...) and rows led by their base (``A 1 2 ...``):
      4 rows, one per base, over the positions.
    - ``>ID NAME`` (or gimmemotifs' ``>ID_ID.NAME``) headers with plain rows of numbers: one row per position
      (A C G T counts), as the bundled database; but when every motif of the file has exactly 4 rows and one of
      them is not 4 wide, the rows are bases (JASPAR's ``.pfm`` with its header). The layout is decided for the
      whole file, so a 4 bp motif reads the same way as its neighbours.

    Default: JASPAR 2022 CORE vertebrates, non-redundant (838 motifs; CC BY 4.0), shipped with dnallm.

    Raises:
        DnallmError: a row that is not numbers, a motif without rows or not 4 bases wide, no motif at all.
    """
    path = Path(path) if path is not None else JASPAR_FILE
    blocks = _blocks(path)
    if not blocks:
        raise DnallmError(f"{path}: no motifs")
    headerless = blocks[0][0] is None
    by_base = headerless or all(len(rows) == 4 for _, rows, _ in blocks) and any(
        len(row) != 4 for _, rows, _ in blocks for row in rows)
    motifs = []
    for header, rows, lettered in blocks:
        label = header if header is not None else path.stem
        if len({len(row) for row in rows}) != 1:
            raise DnallmError(f"{path}: motif '{label}' has rows of different lengths")
        matrix = np.array(rows, dtype=float)
        if lettered or by_base:
            if len(rows) != 4:
                raise DnallmError(f"{path}: motif '{label}' has {len(rows)} rows, not 4 (A C G T)")
            matrix = matrix.T
        if matrix.shape[1] != 4:
            raise DnallmError(f"{path}: motif '{label}' does not have 4 columns (A C G T)")
        motif_id, name = _split_header(label)
        motifs.append(PFM(motif_id, name, matrix))
    return motifs


def _blocks(path: Path) -> list[tuple[str | None, list[list[float]], bool]]:
    """The file's motifs as (header or None, rows of numbers, whether the rows are led by their base letter)."""
    blocks: list[tuple[str | None, list[list[float]], bool]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(">"):
            if blocks and blocks[0][0] is None:
                raise DnallmError(f"{path}:{lineno}: a '>' header after the counts of a header-less .pfm file")
            blocks.append((line[1:].strip(), [], False))
            continue
        if not blocks:
            blocks.append((None, [], False))  # JASPAR's .pfm: numbers from the first line
        elif blocks[0][0] is None and len(blocks[-1][1]) == 4:
            raise DnallmError(f"{path}:{lineno}: a header-less .pfm file holds 4 rows (A C G T), found more")
        lettered = re.match(r"[ACGT](\s*\[|\s)", line) is not None
        values = re.sub(r"^[ACGT]\s*\[?|\]", " ", line).split() if lettered else line.split()
        try:
            blocks[-1][1].append([float(v) for v in values])
        except ValueError:
            raise DnallmError(f"{path}:{lineno}: expected counts, found {line!r}") from None
        if lettered:
            blocks[-1] = (blocks[-1][0], blocks[-1][1], True)
    empty = next((header for header, rows, _ in blocks if not rows), None)
    if blocks and empty is not None:
        raise DnallmError(f"{path}: motif '{empty}' has no rows")
    return blocks


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

    Used only to fold a discovered motif into an earlier one that it duplicates (``MotifSettings.duplicate``);
    database matches are Tomtom's (:func:`dnallm.tomtom.tomtom_matches`).

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
    """A database motif matched to a discovered one by Tomtom (:func:`dnallm.tomtom.tomtom_matches`).

    ``pvalue``, ``evalue`` (p x database size) and ``qvalue`` (Benjamini-Hochberg over the query's p-values
    against the whole database); ``rank`` among all database motifs by p-value (1 = best); ``offset``: the database
    motif's column aligned with the query's first column (negative when the query starts before it), on strand
    ``strand`` of the database motif (``-``: its reverse complement); ``overlap``: aligned columns.
    """

    id: str
    name: str
    pvalue: float
    evalue: float
    qvalue: float
    rank: int
    offset: int
    overlap: int
    strand: str


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
    """One file per :class:`~dnallm.motifs.DiscoveredMotif` (or PFM), ``<id>.pfm``, in JASPAR's ``.pfm`` layout:
    4 rows (A, C, G, T), each the counts over the motif's positions, space-separated, no header (the id is the
    file name; Biopython's ``Bio.motifs.read(handle, "pfm")`` takes no header line). :func:`read_jaspar` and
    Biopython read them back."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in motifs:
        pfm = item if isinstance(item, PFM) else item.pfm
        path = folder / f"{pfm.id}.pfm"
        rows = "\n".join(" ".join(f"{v:g}" for v in column) for column in pfm.counts.T)
        with replaced(path, path.with_name(path.name + ".tmp")) as tmp:
            tmp.write_text(rows + "\n", encoding="utf-8")
        paths.append(path)
    return paths
