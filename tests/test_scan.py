"""Genome scanning: tiles cover every base and equal a direct transformers forward on the bases each row names;
tracks read back with pyBigWig hold the mean of the covering tiles; BED regions (strands, skipped intervals,
malformed lines); mostly-N tiles; attention and attribution tracks in genome coordinates."""

from __future__ import annotations

import gzip
import random
import shutil

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from dnallm import DNAInference
from dnallm.errors import DnallmError
from dnallm.io.tracks import CoveringMean
from dnallm.motifs import reverse_complement
from dnallm.testing import DATA, write_fasta
from tests.support import FAMILIES, run_main
from tests.test_variants import direct_probabilities as direct


def phix() -> str:
    """The phiX174 genome (contig 'phix', 5,386 bp), read without dnallm."""
    return "".join((DATA / "phiX174.fa").read_text().split("\n")[1:]).upper()


@pytest.fixture()
def genome(tmp_path):
    path = tmp_path / "phiX174.fa"
    shutil.copy(DATA / "phiX174.fa", path)
    return path


def expected_starts(length: int, window: int, step: int) -> list[int]:
    """Tiles by the documented rule, written out: every step while a window fits, then one ending at the end."""
    starts, s = [], 0
    while s + window <= length:
        starts.append(s)
        s += step
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def covering_mean(length: int, rows: pd.DataFrame, column: str) -> np.ndarray:
    """Per-bp mean of the rows covering each base (NaN where none), by summing over bases."""
    total, count = np.zeros(length), np.zeros(length)
    for start, end, value in zip(rows["start"], rows["end"], rows[column]):
        total[start:end] += value
        count[start:end] += 1
    with np.errstate(invalid="ignore"):
        return total / count


def read_bedgraph(path) -> list[tuple[str, int, int, float]]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    return [(c, int(s), int(e), float(v)) for c, s, e, v in (line.split("\t") for line in lines[1:])]


# -- tiles ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_tiles_cover_every_base_and_equal_a_direct_forward(model_dirs, genome, family):
    seq = phix()
    inf = DNAInference(model_dirs[family])
    df = inf.scan(genome, window=60, step=25)
    assert list(df.columns) == ["chrom", "start", "end", "Mafk", "Oct4"]
    assert list(df["start"]) == expected_starts(len(seq), 60, 25)
    assert ((df["end"] - df["start"]) == 60).all() and df["end"].iloc[-1] == len(seq)
    covered = np.zeros(len(seq), bool)
    for start, end in zip(df["start"], df["end"]):
        covered[start:end] = True
    assert covered.all()
    picked = sorted(random.Random(0).sample(range(len(df)), 12)) + [len(df) - 1]  # the last, moved, tile too
    want = direct(model_dirs[family], family, [seq[df["start"][i] : df["end"][i]] for i in picked])
    got = df.loc[picked, ["Mafk", "Oct4"]].to_numpy()
    assert np.abs(got - want).max() <= 2e-6
    assert df["Oct4"].std() > 1e-3  # the outputs depend on the bases


def test_default_step_is_the_window_and_a_short_contig_is_one_tile(model_dirs, tmp_path):
    seq = phix()
    path = write_fasta(tmp_path / "two.fa", [("long", seq[:1000]), ("short", seq[2000:2040])])
    inf = DNAInference(model_dirs["single_nucleotide"])
    df = inf.scan(path, window=300)
    assert df[["chrom", "start", "end"]].values.tolist() == [
        ["long", 0, 300], ["long", 300, 600], ["long", 600, 900], ["long", 700, 1000], ["short", 0, 40]]
    want = direct(model_dirs["single_nucleotide"], "single_nucleotide", [seq[2000:2040]])
    assert np.abs(df[["Mafk", "Oct4"]].to_numpy()[-1] - want[0]).max() <= 2e-6


def test_a_window_longer_than_the_model_is_predict_on_the_same_bases(model_dirs, genome, tmp_path):
    """Each tile is one record: windows of the model's input, combined as predict combines them."""
    seq = phix()
    inf = DNAInference(model_dirs["overlapping_kmer"])  # 128 tokens: about 130 bp per input
    df = inf.scan(genome, window=700, step=700)
    fasta = write_fasta(tmp_path / "tiles.fa", [(f"t{i}", seq[s:e]) for i, (s, e) in
                                                enumerate(zip(df["start"], df["end"]))])
    pred = inf.predict(fasta)
    assert (pred["n_windows"] > 1).all()
    assert np.abs(pred[["Mafk", "Oct4"]].to_numpy() - df[["Mafk", "Oct4"]].to_numpy()).max() <= 1e-6


def test_both_strands_is_the_mean_of_the_tile_and_its_reverse_complement(model_dirs, genome):
    seq = phix()
    path = model_dirs["nonoverlapping_kmer"]
    df = DNAInference(path).scan(genome, window=90, step=45, both_strands=True)
    tiles = [seq[s:e] for s, e in zip(df["start"][:8], df["end"][:8])]
    want = (direct(path, "nonoverlapping_kmer", tiles)
            + direct(path, "nonoverlapping_kmer", [reverse_complement(t) for t in tiles])) / 2
    assert np.abs(df[["Mafk", "Oct4"]].to_numpy()[:8] - want).max() <= 2e-6


def test_chroms_restrict_the_tiles_and_an_unknown_one_is_named(model_dirs, tmp_path, capsys):
    seq = phix()
    path = write_fasta(tmp_path / "g.fa", [("chr1", seq[:600]), ("chr2", seq[1000:1500]), ("chr3", seq[2000:2300])])
    inf = DNAInference(model_dirs["bpe"])
    assert set(inf.scan(path, window=100, chroms="chr3,chr1")["chrom"]) == {"chr1", "chr3"}
    assert list(inf.scan(path, window=100, chroms=["2"], chrom_alias="chr")["chrom"].unique()) == ["chr2"]
    code, _, err = run_main(["scan", str(path), "-m", str(model_dirs["bpe"]), "--window", "100", "--chroms",
                             "chrX", "-o", str(tmp_path / "o.tsv")], capsys)
    assert code == 2 and "contig 'chrX' is not in the genome" in err and len(err.strip().splitlines()) == 1


def test_mostly_n_tiles_are_counted_and_listed_as_one_run(model_dirs, tmp_path, capsys):
    seq = phix()
    body = seq[:1000] + "N" * 700 + seq[1000:2000]
    path = write_fasta(tmp_path / "gap.fa", [("chrN", body)])
    out = tmp_path / "gap.tsv"
    code, _, err = run_main(["scan", str(path), "-m", str(model_dirs["bpe"]), "--window", "100", "--step", "50",
                             "-o", str(out)], capsys)
    assert code == 0, err
    df = pd.read_csv(out, sep="\t")
    n_share = [body[s:e].count("N") / (e - s) for s, e in zip(df["start"], df["end"])]
    assert max(n_share) <= 0.5
    starts = expected_starts(len(body), 100, 50)
    left_out = [s for s in starts if body[s : s + 100].count("N") > 50]
    assert len(df) + len(left_out) == len(starts) and len(left_out) == 13
    skipped = pd.read_csv(f"{out}.skipped.tsv", sep="\t")
    assert len(skipped) == 1 and skipped["id"][0] == f"chrN:{left_out[0]}-{left_out[-1] + 100}"
    assert "13 windows more than 50% N" in skipped["reason"][0]
    assert "13 not scored" in err


# -- tracks ---------------------------------------------------------------------------------------------------


def test_bigwig_holds_the_mean_of_the_covering_tiles(model_dirs, genome, tmp_path, capsys):
    seq = phix()
    model = str(model_dirs["overlapping_kmer"])
    table, track = tmp_path / "tiles.tsv", tmp_path / "scan.bw"
    for out in (table, track):
        code, _, err = run_main(["scan", str(genome), "-m", model, "--window", "60", "--step", "25", "-o", str(out)],
                                capsys)
        assert code == 0, err
    rows = pd.read_csv(table, sep="\t")
    assert "scan.Mafk.bw" in err and "scan.Oct4.bw" in err
    for label in ("Mafk", "Oct4"):
        bw = pyBigWig.open(str(tmp_path / f"scan.{label}.bw"))
        assert bw.chroms() == {"phix": len(seq)}
        got = np.array(bw.values("phix", 0, len(seq)))
        want = covering_mean(len(seq), rows, label)
        assert np.abs(got - want).max() <= 1e-6 * max(1, np.abs(want).max())
        entries = bw.intervals("phix")
        assert all(a[1] == b[0] for a, b in zip(entries, entries[1:]))  # contiguous, none overlapping
        assert all(a[2] != b[2] for a, b in zip(entries, entries[1:]))  # equal neighbours merged
        bw.close()


def test_bedgraph_of_one_label_is_sorted_contiguous_and_the_covering_mean(model_dirs, genome, tmp_path, capsys):
    seq = phix()
    model = str(model_dirs["bpe"])
    out = tmp_path / "oct4.bedgraph"
    code, _, err = run_main(["scan", str(genome), "-m", model, "--window", "80", "--step", "30", "--label", "Oct4",
                             "-o", str(out)], capsys)
    assert code == 0, err
    rows = DNAInference(model).scan(genome, window=80, step=30)
    lines = read_bedgraph(out)
    assert lines[0][1] == 0 and lines[-1][2] == len(seq)
    assert all(a[2] == b[1] for a, b in zip(lines, lines[1:]))
    values = np.concatenate([[v] * (e - s) for _, s, e, v in lines])
    assert np.abs(values - covering_mean(len(seq), rows, "Oct4")).max() <= 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oct4.bedgraph", "oct4.bedgraph.skipped.tsv",
                                                         "phiX174.fa", "phiX174.fa.fai"]


def test_covering_mean_matches_a_per_base_sum_on_random_intervals():
    rng = np.random.default_rng(1)
    starts = np.sort(rng.integers(0, 500, 300))
    ends = starts + rng.integers(1, 80, 300)
    values = rng.normal(size=(300, 2))
    sweep, runs = CoveringMean(), []
    for s, e, v in zip(starts, ends, values):
        runs.extend(sweep.add(int(s), int(e), v))
    runs.extend(sweep.close())
    total, count = np.zeros((700, 2)), np.zeros(700)
    for s, e, v in zip(starts, ends, values):
        total[s:e] += v
        count[s:e] += 1
    got = np.full((700, 2), np.nan)
    for s, e, mean in runs:
        assert np.isnan(got[s:e]).all()  # no base in two runs
        got[s:e] = mean
    covered = count > 0
    assert np.isnan(got[~covered]).all()
    assert np.abs(got[covered] - total[covered] / count[covered][:, None]).max() < 1e-12
    assert [r[0] for r in runs] == sorted(r[0] for r in runs)


# -- regions --------------------------------------------------------------------------------------------------

BED = """track name=peaks
browser position phix:1-5386
# intervals of phiX174
phix\t100\t300\tpeak_a\t0\t+
phix\t1000\t1150\t.\t0\t-
phix\t2000\t2120
phix\t5300\t5500\tpast_end\t0\t+
chr7\t10\t200\tmissing\t0\t-
phix\t4000\t4000\tempty
phix\t3000\t3180\tpeak_b\t5\t-\textra\tcolumns
"""


def test_regions_score_each_interval_with_strand_and_list_what_is_not(model_dirs, genome, tmp_path, capsys):
    seq = phix()
    model = str(model_dirs["overlapping_kmer"])
    bed = tmp_path / "peaks.bed"
    bed.write_text(BED)
    out = tmp_path / "peaks.tsv"
    code, _, err = run_main(["scan", str(genome), "-m", model, "--regions", str(bed), "-o", str(out)], capsys)
    assert code == 0, err
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns) == ["chrom", "start", "end", "name", "strand", "Mafk", "Oct4"]
    assert list(df["name"]) == ["peak_a", "phix:1000-1150(-)", "phix:2000-2120", "peak_b"]
    assert list(df["strand"]) == ["+", "-", ".", "-"]
    skipped = pd.read_csv(f"{out}.skipped.tsv", sep="\t")
    assert list(skipped["id"]) == ["past_end", "missing", "empty"]
    assert list(skipped["where"]) == [f"{bed}:7", f"{bed}:8", f"{bed}:9"]
    assert "beyond the end of contig 'phix' (5,386 bp)" in skipped["reason"][0]
    assert "contig 'chr7' is not in the genome" in skipped["reason"][1]
    assert "3 not scored" in err
    # strand -: the reverse complement of the interval through `dnallm predict`; + and .: the bases as they are
    seqs = [seq[100:300], reverse_complement(seq[1000:1150]), seq[2000:2120], reverse_complement(seq[3000:3180])]
    fasta = write_fasta(tmp_path / "same.fa", [(f"r{i}", s) for i, s in enumerate(seqs)])
    code, _, err = run_main(["predict", str(fasta), "-m", model, "-q", "-o", str(tmp_path / "pred.tsv")], capsys)
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "pred.tsv", sep="\t")
    assert np.abs(pred[["Mafk", "Oct4"]].to_numpy() - df[["Mafk", "Oct4"]].to_numpy()).max() <= 1e-6
    forward = DNAInference(model).predict([seq[1000:1150]])[["Mafk", "Oct4"]].to_numpy()[0]
    assert np.abs(df.loc[1, ["Mafk", "Oct4"]].to_numpy(float) - forward).max() > 1e-4  # the strand matters


def test_overlapping_regions_become_a_sorted_track_of_means(model_dirs, genome, tmp_path, capsys):
    seq = phix()
    model = str(model_dirs["single_nucleotide"])
    bed = tmp_path / "r.bed"
    bed.write_text("phix\t900\t1000\nphix\t100\t300\nphix\t200\t260\tb\t0\t-\nphix\t250\t400\n")
    out = tmp_path / "r.bw"
    code, _, err = run_main(["scan", str(genome), "-m", model, "--regions", str(bed), "--label", "Oct4", "-o",
                             str(out)], capsys)
    assert code == 0, err
    rows = DNAInference(model).scan(genome, regions=bed)
    bw = pyBigWig.open(str(out))
    got = np.array(bw.values("phix", 0, len(seq)))
    want = covering_mean(len(seq), rows, "Oct4")
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.nanmax(np.abs(got - want)) <= 1e-6
    assert [e[0] for e in bw.intervals("phix")][0] == 100


@pytest.mark.parametrize("line, says", [
    ("phix\t100\n", "needs at least 3 columns"),
    ("phix\tten\t200\n", "the start column holds 'ten'"),
    ("phix\t300\t200\n", "ends (200) before it starts (300)"),
    ("phix\t100\t200\tx\t0\t*\n", "the strand column (6th) holds '*'"),
    ("phix\t-5\t200\n", "the start column holds '-5'"),
])
def test_a_malformed_bed_line_stops_with_file_and_line(model_dirs, genome, tmp_path, capsys, line, says):
    bed = tmp_path / "bad.bed"
    bed.write_text("# header\nphix\t1\t100\n" + line)
    code, _, err = run_main(["scan", str(genome), "-m", str(model_dirs["bpe"]), "--regions", str(bed), "-o",
                             str(tmp_path / "o.tsv")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{bed}:3:" in err and says in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bed", "phiX174.fa"]  # nothing written


def test_on_error_raise_stops_at_the_first_interval_not_scored(model_dirs, genome, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("phix\t0\t100\nchrZ\t0\t100\n")
    with pytest.raises(DnallmError, match=r"r\.bed:2 \(chrZ:0-100\): contig 'chrZ' is not in the genome"):
        DNAInference(model_dirs["bpe"]).scan(genome, regions=bed, on_error="raise")


# -- options and outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, says", [
    (["--window", "100", "--step", "150"], "the step must be from 1 to the window"),
    ([], "give either a window in bp"),
    (["--window", "100", "--regions", "x.bed"], "not both"),
    (["--window", "100", "--label", "Oct4", "-o", "t.tsv"], "--label chooses the output written as a track"),
    (["--window", "100", "--label", "Nope", "-o", "t.bw"], "--label Nope: the model's outputs are Mafk, Oct4"),
    (["--window", "0"], "at least 1"),
    (["--window", "100", "-o", "phiX174.fa.fai"], "phiX174.fa.fai"),
])
def test_options_that_cannot_make_a_scan_are_one_line(model_dirs, genome, tmp_path, capsys, monkeypatch, args,
                                                      says):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["scan", "phiX174.fa", "-m", str(model_dirs["bpe"]), *args], capsys)
    assert code == 2 and says in err.strip().splitlines()[-1] and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.startswith("dnallm: error:")]) == 1


def test_a_plain_gzip_genome_is_read_and_an_empty_bigwig_refused(model_dirs, tmp_path, capsys):
    path = tmp_path / "phix.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write((DATA / "phiX174.fa").read_text())
    df = DNAInference(model_dirs["bpe"]).scan(path, window=1000)
    assert list(df["end"]) == [1000, 2000, 3000, 4000, 5000, 5386]
    bed = tmp_path / "none.bed"
    bed.write_text("chrQ\t0\t100\n")
    code, _, err = run_main(["scan", str(path), "-m", str(model_dirs["bpe"]), "--regions", str(bed), "--label",
                             "Oct4", "-o", str(tmp_path / "none.bw")], capsys)
    assert code == 2 and "a bigWig cannot be empty" in err
    assert not list(tmp_path.glob("*none.bw*")) and not list(tmp_path.glob("none.bw.skipped*"))


# -- attention and attribution tracks in genome coordinates ---------------------------------------------------


def test_attribution_tracks_land_on_the_genome_interval_their_id_names(model_dirs, tmp_path, capsys):
    seq = phix()
    fasta = write_fasta(tmp_path / "peaks.fa", [("chr5:1000-1060", seq[:60]),
                                                ("chr5:2000-2060(-)", reverse_complement(seq[100:160]))])
    model = str(model_dirs["overlapping_kmer"])
    scores = DNAInference(model).attribute(str(fasta))
    out = tmp_path / "a.bedgraph"
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-q", "-o", str(out)], capsys)
    assert code == 0, err
    lines = read_bedgraph(out)
    per_base = {}
    for chrom, s, e, v in lines:
        for p in range(s, e):
            per_base[(chrom, p)] = v
    assert {c for c, *_ in lines} == {"chr5"}
    first = [per_base[("chr5", p)] for p in range(1000, 1060)]
    second = [per_base[("chr5", p)] for p in range(2000, 2060)]
    assert np.allclose(first, scores.scores_of(0), atol=1e-5, rtol=1e-5)
    assert np.allclose(second, scores.scores_of(1)[::-1], atol=1e-5, rtol=1e-5)  # (-): last base first
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-q", "-o", str(out), "--record-coordinates"],
                            capsys)
    assert code == 0, err
    assert {(c, s) for c, s, *_ in read_bedgraph(out)} >= {("chr5:1000-1060", 0), ("chr5:2000-2060(-)", 0)}


def test_attention_track_opt_out_keeps_the_record_id(data_dir, tmp_path, capsys, demo):
    peak = "chr9:37339901-37340101"
    out = tmp_path / "t.bedgraph"
    code, _, err = run_main(["attention", str(data_dir / "peaks.fa"), "--id", peak, "--track", str(out), "-q",
                             "--record-coordinates"], capsys)
    assert code == 0, err
    lines = read_bedgraph(out)
    assert {c for c, *_ in lines} == {peak} and lines[0][1] == 0 and lines[-1][2] == 200


# -- found by review: outputs, BED text, ids --------------------------------------------------------------------


def test_the_skipped_list_may_not_be_a_track(model_dirs, genome, tmp_path, capsys):
    bed = tmp_path / "one.bed"
    bed.write_text("phix\t10\t300\tn1\t0\t+\n")
    model = str(model_dirs["bpe"])
    for out, skipped in (("one.bw", "one.bw"), ("one.bw", "one.Oct4.bw")):
        extra = ["--label", "Oct4"] if out == skipped else []
        code, _, err = run_main(["scan", str(genome), "-m", model, "--regions", str(bed), *extra, "-o",
                                 str(tmp_path / out), "--skipped", str(tmp_path / skipped)], capsys)
        assert code == 2 and "is also the -o output" in err, err
    assert not list(tmp_path.glob("one.*bw*"))


def test_bed_text_is_utf8_and_only_track_lines_are_headers(model_dirs, tmp_path, capsys):
    seq = phix()
    path = write_fasta(tmp_path / "g.fa", [("trackA", seq[:500]), ("browserB", seq[500:900])])
    bed = tmp_path / "r.bed"
    bed.write_bytes("\ufefftrack name=x\ntrackA\t10\t100\tg\u00e8ne_\u03b1 \t0\t+\nbrowserB\t0\t50\n".encode())
    out = tmp_path / "r.tsv"
    code, _, err = run_main(["scan", str(path), "-m", str(model_dirs["bpe"]), "--regions", str(bed), "-o",
                             str(out)], capsys)
    assert code == 0, err
    df = pd.read_csv(out, sep="\t")
    assert list(df["name"]) == ["g\u00e8ne_\u03b1", "browserB:0-50"] and list(df["chrom"]) == ["trackA", "browserB"]


def test_tracks_hold_chromosomes_in_name_order(model_dirs, tmp_path, capsys):
    seq = phix()
    path = write_fasta(tmp_path / "g.fa", [("chrB", seq[:700]), ("chrA", seq[1000:1500]), ("chr10", seq[2000:2600])])
    model = str(model_dirs["bpe"])
    out = tmp_path / "t.bedgraph"
    code, _, err = run_main(["scan", str(path), "-m", model, "--window", "100", "--step", "40", "--label", "Oct4",
                             "-o", str(out)], capsys)
    assert code == 0, err
    lines = read_bedgraph(out)
    order = [c for i, (c, *_) in enumerate(lines) if i == 0 or lines[i - 1][0] != c]
    assert order == ["chr10", "chrA", "chrB"]
    rows = DNAInference(model).scan(path, window=100, step=40)
    assert list(rows["chrom"].unique()) == ["chrB", "chrA", "chr10"]  # tables keep the genome's order
    for chrom, length in (("chrB", 700), ("chrA", 500), ("chr10", 600)):
        values = np.concatenate([[v] * (e - s) for c, s, e, v in lines if c == chrom])
        want = covering_mean(length, rows[rows["chrom"] == chrom], "Oct4")
        assert len(values) == length and np.abs(values - want).max() <= 1e-6
    bw = tmp_path / "t.bw"
    code, _, err = run_main(["scan", str(path), "-m", model, "--window", "100", "--label", "Oct4", "-o", str(bw)],
                            capsys)
    assert code == 0, err
    assert list(pyBigWig.open(str(bw)).chroms()) == ["chr10", "chrA", "chrB"]


def test_getfasta_name_prefix_is_passed_over_and_bad_numbers_are_no_coordinates():
    from dnallm.io.tracks import genome_position

    assert genome_position("peak1::chr2:500-700(-)", 200) == ("chr2", 500, True)
    assert genome_position("chr1:1,000-1,200", 200) == ("chr1", 1000, False)
    assert genome_position("chr2:,-,", 3) == ("chr2:,-,", 0, False)


def test_attention_track_as_bigwig(data_dir, tmp_path, capsys, demo):
    peak = "chr9:37339901-37340101"
    out = tmp_path / "t.bw"
    code, _, err = run_main(["attention", str(data_dir / "peaks.fa"), "--id", peak, "--track", str(out), "-q"],
                            capsys)
    assert code == 0, err
    bw = pyBigWig.open(str(out))
    rec = next(r for r in dnallm_records(data_dir / "peaks.fa") if r.id == peak)
    values = np.array(bw.values("chr9", 37339901, 37340101))
    assert np.allclose(values, demo.attention_track(rec), rtol=1e-5)


def dnallm_records(path):
    from dnallm import read_fasta

    return read_fasta(path)
