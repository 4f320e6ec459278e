"""Attribution outputs: the bigWig track (read back with pyBigWig at genome coordinates, overlaps refused) and the
figure of one record (a logo of its scores with the ISM deltas beneath), through the library and `dnallm attribute`.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dnallm.attribution import Attribution
from dnallm.errors import DnallmError
from dnallm.io.fasta import Record
from dnallm.testing import write_fasta
from tests.support import run_main

import pyBigWig  # noqa: E402  (the test extra installs it)


def hand_made(records: list[tuple[str, int]], ism: bool = False, seed: int = 0) -> Attribution:
    """An attribution of records ``(id, length)`` with random scores (and, with ``ism``, random deltas 0 at the
    reference base of :func:`sequence_of`, the scores their mean-centred reference value)."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum([n for _, n in records])]).astype(np.int64)
    if not ism:
        scores = rng.normal(size=offsets[-1]).astype(np.float32)
        return Attribution([r for r, _ in records], offsets, scores, None, "integrated_gradients", "Oct4")
    deltas = rng.normal(size=(offsets[-1], 4)).astype(np.float32)
    bases = "".join(sequence_of(n, seed + i) for i, (_, n) in enumerate(records))
    deltas[np.arange(len(bases)), ["ACGT".index(b) for b in bases]] = 0
    return Attribution([r for r, _ in records], offsets, -deltas.mean(1), deltas, "ism", "Oct4")


def sequence_of(length: int, seed: int) -> str:
    return "".join(np.random.default_rng(100 + seed).choice(list("ACGT"), length))


# -- bigWig -----------------------------------------------------------------------------------------------------


def test_bigwig_at_genome_coordinates(tmp_path):
    """Records named chrom:start-end, out of order, land at those coordinates; a plain id from 0 on its own
    name; chromosome sizes: the largest end on a chrom, a plain record's length; runs of equal values merged."""
    records = [("chr2:100-130", 30), ("chr1:500-520", 20), ("peak7", 12), ("chr1:40-65", 25)]
    att = hand_made(records)
    att.scores[att.offsets[2] : att.offsets[2] + 6] = 1.5  # a run of equal values in peak7
    path = tmp_path / "scores.bw"
    att.write(path)
    with pyBigWig.open(str(path)) as bw:
        assert bw.chroms() == {"chr1": 520, "chr2": 130, "peak7": 12}
        for i, (chrom, start, end) in enumerate([("chr2", 100, 130), ("chr1", 500, 520), ("peak7", 0, 12),
                                                 ("chr1", 40, 65)]):
            expected = att.scores[att.offsets[i] : att.offsets[i + 1]]
            np.testing.assert_array_equal(np.array(bw.values(chrom, start, end), np.float32), expected)
        assert np.isnan(bw.values("chr1", 65, 500)).all()  # nothing between the two chr1 records
        assert np.isnan(bw.values("chr2", 0, 100)).all()
        assert len(bw.intervals("peak7")) == 12 - 5  # the six bp of 1.5 in one entry
        assert bw.intervals("peak7")[0] == (0, 6, 1.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.bw"]  # no temporary file left


def test_bigwig_suffix_and_missing_pybigwig(tmp_path, monkeypatch):
    """.bigwig is a bigWig too; without pyBigWig the error says which extra to install and nothing is written."""
    att = hand_made([("chr3:10-20", 10)])
    att.write(tmp_path / "a.bigwig")
    with pyBigWig.open(str(tmp_path / "a.bigwig")) as bw:
        assert bw.chroms() == {"chr3": 20}
    monkeypatch.setitem(sys.modules, "pyBigWig", None)  # import pyBigWig now raises ImportError
    with pytest.raises(DnallmError, match=r"pip install 'dnallm\[bigwig\]'"):
        att.write(tmp_path / "b.bw")
    assert not (tmp_path / "b.bw").exists()


def test_bigwig_overlap_refused(tmp_path):
    att = hand_made([("chr1:100-150", 50), ("chr2:0-10", 10), ("chr1:140-160", 20)])
    (tmp_path / "old.bw").write_bytes(b"previous")
    with pytest.raises(DnallmError) as info:
        att.write_bigwig(tmp_path / "old.bw")
    message = str(info.value)
    assert "\n" not in message and "'chr1:100-150'" in message and "'chr1:140-160'" in message
    assert ".npz" in message and ".bedgraph" in message
    assert (tmp_path / "old.bw").read_bytes() == b"previous"  # the earlier file is left whole
    hand_made([("chr1:100-150", 50), ("chr1:150-160", 10)]).write_bigwig(tmp_path / "adjacent.bw")  # touching: fine
    empty = Attribution([], np.zeros(1, np.int64), np.zeros(0, np.float32), None, "ism", "Oct4")
    with pytest.raises(DnallmError, match="a bigWig cannot be empty"):
        empty.write_bigwig(tmp_path / "empty.bw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adjacent.bw", "old.bw"]


def test_cli_bigwig_and_overlap(model_dirs, tmp_path, capsys):
    """`dnallm attribute -o x.bw` writes the same scores as the .npz at genome coordinates; two overlapping
    records: exit 2, one line naming both, no file."""
    model = str(model_dirs["overlapping_kmer"])
    seqs = [sequence_of(40, 1), sequence_of(30, 2)]
    fasta = write_fasta(tmp_path / "peaks.fa", [("chr5:1000-1040", seqs[0]), ("chr5:900-930", seqs[1])])
    common = ["attribute", str(fasta), "-m", model, "-q", "--method", "attention"]
    code, _, err = run_main([*common, "-o", str(tmp_path / "a.npz")], capsys)
    assert code == 0, err
    code, _, err = run_main([*common, "-o", str(tmp_path / "a.bw")], capsys)
    assert code == 0, err
    saved = Attribution.read_npz(tmp_path / "a.npz")
    with pyBigWig.open(str(tmp_path / "a.bw")) as bw:
        assert bw.chroms() == {"chr5": 1040}
        np.testing.assert_allclose(bw.values("chr5", 1000, 1040), saved.scores_of(0), rtol=1e-6)
        np.testing.assert_allclose(bw.values("chr5", 900, 930), saved.scores_of(1), rtol=1e-6)
    overlapping = write_fasta(tmp_path / "overlap.fa", [("chr5:1000-1040", seqs[0]), ("chr5:1020-1050", seqs[1])])
    code, _, err = run_main(["attribute", str(overlapping), "-m", model, "-q", "--method", "attention",
                             "-o", str(tmp_path / "b.bw")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "chr5:1000-1040" in err and "chr5:1020-1050" in err and ".npz" in err
    assert not (tmp_path / "b.bw").exists()


# -- the figure -------------------------------------------------------------------------------------------------


@pytest.fixture
def figures():
    """The figure's packages (logomaker, a core dependency), matplotlib drawing off screen."""
    import logomaker  # noqa: F401  (a core dependency)
    import matplotlib

    matplotlib.use("Agg")


def test_figure_logo_and_heatmap(figures):
    """Logo: one letter per bp of the region, the reference base, as tall as its score (below the axis when
    negative); heatmap: the ISM deltas transposed (rows A C G T); x axis in record bp of the region."""
    from dnallm.plotting import plot_attribution

    att = hand_made([("other", 30), ("chr1:200-280", 80)], ism=True)
    seq = sequence_of(80, 1)
    fig = plot_attribution(Record("chr1:200-280", seq), att, "chr1:200-280", region=(20, 50))
    logo_ax, heat_ax = fig.axes[0], fig.axes[2]
    scores, deltas = att.scores_of(1), att.ism_of(1)
    assert logo_ax.get_xlim() == heat_ax.get_xlim() == (19.5, 49.5)  # base i centred at x = i
    drawn = {}
    for patch in logo_ax.patches:
        box = patch.get_path().get_extents(patch.get_transform() - logo_ax.transData)
        if box.height > 0:
            drawn[round((box.x0 + box.x1) / 2)] = (box.y0, box.y1)
    assert sorted(drawn) == list(range(20, 50))
    for i, (y0, y1) in drawn.items():
        assert (y0, y1) == pytest.approx((min(0, scores[i]), max(0, scores[i])), abs=1e-6)
    letters = {int(g.p): g.c for g in logo_ax._dnallm_logo.glyph_list if g.ceiling - g.floor > 0}
    assert "".join(letters[i] for i in range(20, 50)) == seq[20:50]
    (image,) = heat_ax.get_images()
    np.testing.assert_array_equal(np.asarray(image.get_array()), deltas[20:50].T)
    assert [t.get_text() for t in heat_ax.get_yticklabels()] == list("ACGT")
    assert image.norm.vmin == -image.norm.vmax  # centred at 0
    assert "bp" in heat_ax.get_xlabel() and "Oct4" in fig.axes[3].get_ylabel()  # the colorbar names the target
    assert "Oct4" in logo_ax.get_ylabel()
    assert "chr1:200-280" in fig._suptitle.get_text() and "ISM" in fig._suptitle.get_text()


def test_figure_refuses_wrong_sequence_and_region(figures):
    from dnallm.plotting import plot_attribution

    att = hand_made([("r", 40)])
    with pytest.raises(DnallmError, match="is 39 bp but the attribution of 'r' has 40 scores") as info:
        plot_attribution("A" * 39, att)
    assert "\n" not in str(info.value)
    with pytest.raises(DnallmError, match="not inside record 'r'"):
        plot_attribution("A" * 40, att, region=(30, 45))
    fig = plot_attribution("ACGT" * 10, att)  # not ISM: the logo alone, over the whole record
    assert len(fig.axes) == 2 and fig.axes[0].get_xlim() == (-0.5, 39.5) and not fig.axes[0].get_images()


def test_cli_figure(model_dirs, tmp_path, capsys, figures):
    """--figure writes a PNG of the chosen record (first by default, said on stderr); a figure path that is the
    input is refused before anything runs; --region outside the record is one line."""
    model = str(model_dirs["overlapping_kmer"])
    fasta = write_fasta(tmp_path / "peaks.fa", [("a", sequence_of(50, 3)), ("b", sequence_of(60, 4))])
    before = fasta.read_bytes()
    figure = tmp_path / "b.png"
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "--figure", str(figure), "--id", "b",
                             "--region", "10-40"], capsys)
    assert code == 0, err
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-o", str(tmp_path / "all.npz"),
                             "--figure", str(tmp_path / "first.svg")], capsys)
    assert code == 0 and "draws the first record, 'a'" in err, err
    assert Attribution.read_npz(tmp_path / "all.npz").ids == ["a", "b"]
    assert (tmp_path / "first.svg").read_text().lstrip().startswith("<?xml")
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "--figure", str(fasta)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    (tmp_path / "link.png").symlink_to(fasta)
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "--figure", str(tmp_path / "link.png")], capsys)
    assert code == 2 and "is the input" in err and fasta.read_bytes() == before
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "--figure", str(figure), "--id", "a",
                             "--region", "10-80"], capsys)
    assert code == 2 and "not inside record 'a'" in err and len(err.strip().splitlines()) == 1
