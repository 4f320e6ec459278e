"""Tomtom (memelite) against the bundled JASPAR: a motif finds itself on both strands at the right offset, E and q
are what they are defined to be, a random low-information motif matches nothing (a uniform one only the
uninformative spacer of long motifs); JASPAR .pfm files round-trip
through Biopython and read_jaspar; a table without motifs keeps every column.

Tomtom compiles with numba on its first call (about 70 s in a fresh environment), so it runs once, in the module
fixture, on every query the tests need.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np
import pandas as pd
import pytest

from dnallm.errors import DnallmError
from dnallm.jaspar import PFM, Match, read_jaspar, write_pfms
from dnallm.motifs import MotifResult
from dnallm.tomtom import tomtom_matches

N_JASPAR = 838  # motifs in the bundled JASPAR 2022 CORE vertebrates, non-redundant


@pytest.fixture(scope="module")
def jaspar():
    return {m.id: m for m in read_jaspar()}


@pytest.fixture(scope="module")
def results(jaspar):
    """Every query's matches against the whole database (top = all 838), from one Tomtom call."""
    pou, ctcf = jaspar["MA1115.1"], jaspar["MA0139.1"]  # POU5F1 (11 bp), CTCF (19 bp)
    rng = np.random.default_rng(0)
    queries = {
        "pou": pou,
        "pou_rc": pou.reverse_complement(),
        "ctcf_part": PFM("ctcf_part", "ctcf_part", ctcf.counts[4:14]),  # CTCF's columns 4..13
        "ctcf_part_rc": PFM("ctcf_part_rc", "ctcf_part_rc", ctcf.counts[4:14][::-1, ::-1].copy()),
        "uniform": PFM("uniform", "uniform", np.full((10, 4), 25.0)),
        # random low-information motifs: columns drawn from a flat Dirichlet, 0.3-0.5 bits a column on average
        **{f"random{i}": PFM(f"random{i}", "random", rng.dirichlet(np.ones(4), size=10) * 100) for i in range(3)},
    }
    database = list(jaspar.values())
    start = time.perf_counter()
    found = tomtom_matches(list(queries.values()), database, top=len(database))
    print(f"\nTomtom: {len(queries)} queries against {len(database)} motifs in {time.perf_counter() - start:.2f} s "
          "(the first call in a fresh environment compiles)")
    return dict(zip(queries, found))


def test_a_jaspar_motif_finds_itself(results):
    best = results["pou"][0]
    print(f"POU5F1 vs JASPAR: {best.id} {best.name} p {best.pvalue:.1e} E {best.evalue:.1e} q {best.qvalue:.1e}")
    assert (best.id, best.name, best.rank) == ("MA1115.1", "POU5F1", 1)
    assert best.pvalue < 1e-6 and best.qvalue <= 0.05
    assert (best.offset, best.overlap, best.strand) == (0, 11, "+")


def test_its_reverse_complement_finds_it_on_the_minus_strand(results):
    best = results["pou_rc"][0]
    assert (best.id, best.rank, best.strand) == ("MA1115.1", 1, "-")
    assert best.pvalue < 1e-6 and best.qvalue <= 0.05


def test_offset_is_the_database_column_under_the_query_start(results):
    """A 10-column piece of the 19 bp CTCF motif from its column 4: CTCF's match is aligned at offset 4; the piece's
    reverse complement starts at column 19 - 14 = 5 of CTCF's reverse complement."""
    forward = next(m for m in results["ctcf_part"] if m.id == "MA0139.1")
    assert (forward.offset, forward.overlap, forward.strand) == (4, 10, "+") and forward.qvalue <= 0.05
    reverse = next(m for m in results["ctcf_part_rc"] if m.id == "MA0139.1")
    assert (reverse.offset, reverse.overlap, reverse.strand) == (5, 10, "-") and reverse.qvalue <= 0.05


def test_evalue_and_qvalue_follow_their_definitions(results):
    for name, matches in results.items():
        assert len(matches) == N_JASPAR and [m.rank for m in matches] == list(range(1, N_JASPAR + 1))
        p = np.array([m.pvalue for m in matches])
        q = np.array([m.qvalue for m in matches])
        assert np.all(np.diff(p) >= 0), name  # rank 1 first
        assert np.allclose([m.evalue for m in matches], p * N_JASPAR, rtol=1e-12, atol=0)
        assert np.all(q >= p) and np.all(np.diff(q) >= 0) and np.all(q <= 1), name
        # Benjamini-Hochberg by hand: q_(i) = min over j >= i of p_(j) n / j
        by_hand = np.minimum.accumulate((p * N_JASPAR / np.arange(1, N_JASPAR + 1))[::-1])[::-1]
        assert np.allclose(q, np.minimum(by_hand, 1), rtol=1e-9, atol=1e-300), name


@pytest.mark.parametrize("name", ["random0", "random1", "random2"])
def test_a_random_low_information_motif_matches_nothing(results, name):
    best = results[name][0]
    assert best.qvalue > 0.05, best


def _aligned_target_columns(target: PFM, match: Match) -> np.ndarray:
    """The database motif's columns under the query, from the match's strand, offset and overlap."""
    counts = target.counts if match.strand == "+" else target.reverse_complement().counts
    start = max(match.offset, 0)
    return PFM(target.id, target.name, counts[start : start + match.overlap]).information()


def test_a_uniform_motif_matches_only_uninformative_stretches(results, jaspar):
    """Tomtom's column distance is Euclidean: a uniform query is closest to uniform columns, and the long CTCF
    motifs (MA2025.1, MA2026.1) hold a ~10 bp spacer of them. Whatever it matches at q <= 0.05 is such a stretch
    (and the better matches are nothing like a motif)."""
    significant = [m for m in results["uniform"] if m.qvalue <= 0.05]
    print("uniform 10 bp query, q <= 0.05:", [(m.id, m.name, f"{m.qvalue:.1e}") for m in significant])
    assert len(significant) <= 3
    for match in significant:
        bits = _aligned_target_columns(jaspar[match.id], match)
        assert len(bits) == match.overlap == 10 and bits.mean() < 0.3, (match, bits)


def test_edge_cases():
    assert tomtom_matches([], read_jaspar()[:30]) == []
    query = PFM("q", "q", np.eye(4)[[0, 1, 2, 3, 0, 1]] * 10)
    assert tomtom_matches([query], []) == [[]]
    assert [f.name for f in dataclasses.fields(Match)] == ["id", "name", "pvalue", "evalue", "qvalue", "rank",
                                                           "offset", "overlap", "strand"]


def test_missing_memelite_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "memelite", None)  # import memelite now raises ImportError
    query = PFM("q", "q", np.eye(4)[[0, 1, 2, 3, 0, 1]] * 10)
    with pytest.raises(DnallmError, match="pip install memelite"):
        tomtom_matches([query], read_jaspar()[:30])


# ---------------------------------------------------------------------------------------------------------------
# JASPAR .pfm files

COUNTS6 = np.array([[4, 16, 0, 0], [19, 0, 1, 0], [0, 20, 0, 0], [0, 0, 20, 0], [0, 0, 0, 20], [1, 2, 13, 4]], float)
COUNTS4 = np.array([[10, 0, 0, 0], [0, 7, 3, 0], [1, 1, 1, 7], [0, 0, 9, 1]], float)  # 4 bp: rows != columns


def test_pfm_files_read_back_with_biopython_and_read_jaspar(tmp_path):
    from Bio import motifs as bio_motifs

    pfms = [PFM("six", "six", COUNTS6), PFM("four", "four", COUNTS4)]
    paths = write_pfms(pfms, tmp_path)
    assert [p.name for p in paths] == ["six.pfm", "four.pfm"]
    assert paths[1].read_text() == "10 0 1 0\n0 7 1 0\n0 3 1 9\n0 0 7 1\n"  # rows A C G T over positions
    for pfm, path in zip(pfms, paths):
        with open(path) as handle:
            bio = bio_motifs.read(handle, "pfm")
        assert np.array_equal(np.array([bio.counts[b] for b in "ACGT"]).T, pfm.counts)
        (back,) = read_jaspar(path)
        assert (back.id, back.name) == (pfm.id, pfm.id) and np.array_equal(back.counts, pfm.counts)


def test_read_jaspar_decides_the_orientation_by_the_file(tmp_path):
    # JASPAR's .pfm as its site serves it, with a header: 4 rows of bases
    (tmp_path / "site.pfm").write_text(">MA0004.1\tArnt\n" + "\n".join(" ".join(f"{v:g}" for v in row)
                                                                  for row in COUNTS6.T) + "\n")
    (site,) = read_jaspar(tmp_path / "site.pfm")
    assert (site.id, site.name) == ("MA0004.1", "Arnt") and np.array_equal(site.counts, COUNTS6)
    # the bundled layout (a header, one row per position): a 4 bp motif next to a 6 bp one stays as written
    rows = lambda counts: "\n".join("\t".join(f"{v:g}" for v in row) for row in counts)  # noqa: E731
    (tmp_path / "db.txt").write_text(f">A_a.x\n{rows(COUNTS4)}\n>B_b.y\n{rows(COUNTS6)}\n")
    four, six = read_jaspar(tmp_path / "db.txt")
    assert np.array_equal(four.counts, COUNTS4) and np.array_equal(six.counts, COUNTS6)
    # rows led by their base
    (tmp_path / "lettered.pfm").write_text("".join(f"{b} {' '.join(f'{v:g}' for v in row)}\n"
                                                   for b, row in zip("ACGT", COUNTS4.T)))
    assert np.array_equal(read_jaspar(tmp_path / "lettered.pfm")[0].counts, COUNTS4)
    (tmp_path / "five.pfm").write_text("1 2\n3 4\n5 6\n7 8\n9 9\n")
    with pytest.raises(DnallmError, match="4 rows"):
        read_jaspar(tmp_path / "five.pfm")
    (tmp_path / "mixed.pfm").write_text("1 2\n3 4\n5 6\n7 8\n>X x\n1 2 3 4\n")
    with pytest.raises(DnallmError, match="header-less"):
        read_jaspar(tmp_path / "mixed.pfm")


# ---------------------------------------------------------------------------------------------------------------
# the table


def test_a_table_without_motifs_has_every_column(tmp_path):
    result = MotifResult([], pd.DataFrame(), 10, 10, {}, top_matches=3)
    table = result.table()
    assert len(table) == 0
    match_columns = [c for c in table.columns if c.startswith("match")]
    assert match_columns == [f"match{i}_{what}" for i in (1, 2, 3)
                             for what in ("id", "name", "pvalue", "evalue", "qvalue")]
    assert list(table.columns[:3]) == ["rank", "motif", "consensus"] and "similar_seeds" in table.columns
    table.to_csv(tmp_path / "motifs.tsv", sep="\t", index=False)
    assert list(pd.read_csv(tmp_path / "motifs.tsv", sep="\t").columns) == list(table.columns)
