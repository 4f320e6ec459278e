"""Motif comparison with Tomtom (Gupta et al. 2007), as implemented by ``memelite``.

Tomtom aligns a query motif with each database motif over every offset (the motifs may overhang each other) and
both strands, scoring an alignment by the columns' (negative Euclidean) distances between base probabilities. The
null distribution of a query column's score is its scores against every column of the database, so a p-value
says how unusual the best alignment is for a motif of that query's width and information; short or
low-information queries get large p-values.

Here, for each query:

- ``pvalue``: Tomtom's p-value of the best alignment with one database motif (the better of the two strands,
  corrected for having looked at both);
- ``evalue``: p x the number of database motifs, the expected number of database motifs matching this well by
  chance;
- ``qvalue``: Benjamini-Hochberg over that query's p-values against the whole database (not only the reported
  top matches), the false discovery rate of calling this match and every better one.

memelite compiles its kernels with numba: the first call in a fresh environment takes about a minute, later
calls (in any process) reuse the on-disk cache and take well under a second against JASPAR's 838 motifs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from dnallm.errors import DnallmError
from dnallm.jaspar import PFM, Match

__all__ = ["tomtom_matches"]

logger = logging.getLogger(__name__)


def _tomtom():
    try:
        from memelite import tomtom
    except ImportError:
        raise DnallmError("motif matching needs memelite (Tomtom), which is not installed; install it with: "
                          "pip install memelite") from None
    return tomtom


def _matrix(pfm: PFM) -> np.ndarray:
    """memelite's layout: ``(4, width)`` base probabilities (rows A C G T), C-ordered float64."""
    return np.ascontiguousarray(pfm.probabilities().T, dtype=np.float64)


def tomtom_matches(queries: Sequence[PFM], database: Sequence[PFM], top: int = 3) -> list[list[Match]]:
    """The ``top`` database motifs closest to each query by Tomtom's p-value, rank 1 first (see the module
    docstring for p, E and q).

    One Tomtom call compares every query with every database motif. A match's ``offset`` is the database motif's
    column aligned with the query's first column (negative when the query starts before it), counted on the
    database motif's strand ``strand`` (``-``: its reverse complement); ``overlap`` is the number of aligned
    columns.

    Raises:
        DnallmError: memelite is not installed.
    """
    if not queries:
        return []
    if not database or top <= 0:
        return [[] for _ in queries]
    from scipy.stats import false_discovery_control

    tomtom = _tomtom()
    started = time.perf_counter()
    pvalues, _, offsets, overlaps, strands = tomtom([_matrix(q) for q in queries],
                                                    [_matrix(t) for t in database])[:5]
    logger.info("Tomtom: %d motifs against %d in %.2f s", len(queries), len(database),
                time.perf_counter() - started)
    n = len(database)
    out = []
    for i in range(len(queries)):
        p = np.clip(pvalues[i], 0.0, 1.0)
        q = false_discovery_control(p)
        order = np.argsort(p, kind="stable")[:top]
        out.append([
            Match(database[j].id, database[j].name, float(p[j]), float(p[j] * n), float(q[j]), rank,
                  int(offsets[i, j]), int(overlaps[i, j]), "-" if strands[i, j] else "+")
            for rank, j in enumerate(order, 1)
        ])
    return out
