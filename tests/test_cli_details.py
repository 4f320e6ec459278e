"""CLI and figure details: output checks before compute, 0-based titles, flag names in messages, -v anywhere,
--overlap, --both-strands (exact against direct transformers forwards) and the trained-length warning."""

from __future__ import annotations

import json
import logging
import shutil

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

import dnallm  # noqa: E402
from dnallm import cli  # noqa: E402
from dnallm.io.atomic import write_bedgraph  # noqa: E402
from dnallm.motifs import PFM, DiscoveredMotif, plot_logos, reverse_complement  # noqa: E402
from tests.support import run_dnallm  # noqa: E402


@pytest.fixture(scope="module")
def lam(data_dir):
    return next(dnallm.read_fasta(data_dir / "lambda_phage.fa.gz"))


@pytest.fixture
def one_peak(tmp_path, data_dir):
    path = tmp_path / "one.fa"
    path.write_text("".join(open(data_dir / "oct4_test.fa").readlines()[:2]))
    return path


def _error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# -- 13: output paths checked before the model runs ----------------------------------------------------------------

# a model that cannot load: the output check must come first
NO_MODEL = ["-m", "/nonexistent/model/folder", "-q"]


@pytest.mark.parametrize("option", ["-o", "--track"])
def test_attention_missing_output_folder_is_refused_before_the_model(tmp_path, one_peak, capsys, option):
    name = "f.png" if option == "-o" else "t.bedgraph"
    target = tmp_path / "missing_folder" / name
    assert cli.main(["attention", str(one_peak), option, str(target), *NO_MODEL]) == 2
    assert _error(capsys) == (f"dnallm: error: {option} {target}: the folder {target.parent} does not exist; "
                              "create it first or write elsewhere")


def test_attention_track_over_the_input_or_the_figure_is_refused(tmp_path, one_peak, capsys):
    before = one_peak.read_bytes()
    assert cli.main(["attention", str(one_peak), "--track", str(one_peak), *NO_MODEL]) == 2
    assert "is the input" in _error(capsys)
    assert one_peak.read_bytes() == before
    figure = tmp_path / "x.png"
    assert cli.main(["attention", str(one_peak), "-o", str(figure), "--track", str(figure), *NO_MODEL]) == 2
    assert "is also the -o output" in _error(capsys)


def test_motifs_output_under_a_file_is_refused_before_the_model(tmp_path, one_peak, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / "sub" / "motifs"
    assert cli.main(["motifs", str(one_peak), "--background", str(one_peak), "-o", str(out), *NO_MODEL]) == 2
    assert _error(capsys) == (f"dnallm: error: -o {out}: {blocker} is a file, not a folder; the results folder "
                              "cannot be made there")


def test_bedgraph_is_written_whole_or_not_at_all(tmp_path):
    path = tmp_path / "t.bedgraph"
    path.write_text("previous\n")

    class Unprintable:  # fails once the header is written: the old file must survive, nothing partial left
        def __format__(self, spec):
            raise RuntimeError("disk trouble")

    with pytest.raises(RuntimeError):
        write_bedgraph(str(path), Unprintable(), [1.0, 2.0], "t")
    assert path.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bedgraph"]
    write_bedgraph(str(path), "chr1", [1.0, 1.0, 2.0], "t", start=10)
    assert path.read_text().splitlines()[1:] == ["chr1\t10\t12\t1", "chr1\t12\t13\t2"]


# -- 23: figure titles, zoomed ticks, logo widths -------------------------------------------------------------------

def test_attention_title_numbers_windows_and_layers_from_0(demo, lam):
    fig = demo.plot_attentions(lam, layer=0, window=114)
    title = fig.get_suptitle().replace("\n", " ")
    windows = demo.tokenizer.windows(lam)
    assert f"window 114 of 0-{len(windows) - 1} (bp {windows[114].start:,}-{windows[114].end:,})" in title
    assert "layer 0 of 0-1" in title and "window 115" not in title
    fig = demo.plot_attentions(lam, layer=-1, window=0)
    assert "layer 1 of 0-1" in fig.get_suptitle().replace("\n", " ")


def test_attention_title_with_region_names_the_window_used(demo, lam):
    amap = demo.attentions(lam, layers=-1, heads="mean", region=(20_500, 20_560))
    assert amap.start <= 20_500 and amap.end >= 20_560
    regular = [(w.start, w.end) for w in demo.tokenizer.windows(lam)]
    assert amap.window == -1 and (amap.start, amap.end) not in regular
    title = demo.plot_attentions(lam, layer=-1, region=(20_500, 20_560)).get_suptitle().replace("\n", " ")
    assert f"bp 20,500-20,560 of the window over bp {amap.start:,}-{amap.end:,} centred on the region" in title
    assert "window 1 of" not in title
    # a region inside the first window is drawn from that window, named by its number
    first = demo.attentions(lam, layers=-1, heads="mean", region=(10, 50))
    assert (first.window, first.start) == (0, 0)


def _boxes(labels, renderer):
    return [label.get_window_extent(renderer) for label in labels if label.get_text()]


def test_zoomed_base_letters_do_not_collide_and_ticks_do_not_cross_them(demo, lam):
    fig = demo.plot_attentions(lam, layer=-1, region=(20_500, 20_560))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    heatmap = [ax for ax in fig.get_axes() if ax.get_xlabel() == "key position (bp)"][0]
    letters = _boxes(heatmap.xaxis.get_minorticklabels(), renderer)
    assert len(letters) == 60
    assert all(a.x1 <= b.x0 for a, b in zip(letters, letters[1:])), "base letters overlap along x"
    rows = sorted(_boxes(heatmap.yaxis.get_minorticklabels(), renderer), key=lambda b: -b.y0)
    assert all(a.y0 >= b.y1 for a, b in zip(rows, rows[1:])), "base letters overlap along y"
    numbers = _boxes(heatmap.xaxis.get_majorticklabels(), renderer)
    assert all(n.y1 <= min(b.y0 for b in letters) for n in numbers), "bp numbers run into the letters"
    assert all(a.x1 < b.x0 for a, b in zip(numbers, numbers[1:])), "bp numbers run into each other"
    for axis in (heatmap.xaxis, heatmap.yaxis):  # bp tick lines point into the heatmap, away from the letters
        assert axis.get_tick_params(which="major")["direction"] == "in"
        assert axis.get_tick_params(which="minor")["length"] == 0


def _motif(width: int, seed: int) -> DiscoveredMotif:
    counts = np.eye(4)[np.random.default_rng(seed).integers(0, 4, width)] * 20 + 1
    return DiscoveredMotif(PFM(f"m{width}", f"m{width}", counts), [], "", 0.0, 0.0, 1, 0)


def test_logo_width_is_proportional_to_motif_length(tmp_path):
    fig = plot_logos([_motif(4, 0), _motif(16, 1), _motif(9, 2)], tmp_path / "logos.png")
    fig.canvas.draw()
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    per_bp = [ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0] for ax in axes]
    assert max(per_bp) - min(per_bp) < 0.5  # display pixels per bp: one scale for every logo
    assert (tmp_path / "logos.png").stat().st_size > 0


# -- 24: flag names in messages, -v after the command, --overlap ----------------------------------------------------

def test_cli_messages_name_flags_not_python_arguments(tmp_path, capsys):
    fasta = tmp_path / "iupac.fa"
    fasta.write_text(">a\n" + "ACGTR" * 50 + "\n")
    assert cli.main(["predict", str(fasta), "--iupac", "error", "-q"]) == 2
    line = _error(capsys)
    assert "--iupac error rejects ambiguity codes; the default --iupac n reads them as N" in line
    assert "iupac=" not in line
    # the log lines: as the installed command prints them (a process of its own, whose logging the CLI sets up)
    result = run_dnallm("predict", str(fasta), "-q")
    assert result.returncode == 0, result.stderr
    assert "(pass --iupac error to reject them)" in result.stderr and "iupac=" not in result.stderr
    assert cli.main(["predict", str(fasta), "-q", "--iupac", "error", "--on-error", "skip"]) == 0
    err = capsys.readouterr().err
    assert "skipped 'a'" in err and "--iupac error rejects" in err and "iupac=" not in err
    assert cli.cli_words("pass allow_pickle=True (CLI: --allow-pickle), or not") == "pass --allow-pickle, or not"
    assert cli.cli_words("use pooling='mean'; window_overlap=500") == "use --pooling mean; --overlap 500"


@pytest.mark.parametrize("argv", [["predict", "x.fa", "-v"], ["-v", "predict", "x.fa"],
                                  ["embed", "x.fa", "-o", "e.npz", "--verbose"], ["attention", "x.fa", "-v"]])
def test_verbose_before_or_after_the_command(argv):
    assert cli.build_parser().parse_args(argv).verbose is True
    assert cli.build_parser().parse_args([a for a in argv if a not in ("-v", "--verbose")]).verbose is False


@pytest.mark.parametrize("value, message", [
    ("-3", "dnallm: error: --overlap takes 0 or more tokens, not -3"),
    ("ten", "dnallm: error: --overlap takes a whole number of tokens (e.g. --overlap 20), not 'ten'"),
    ("500", "dnallm: error: --overlap 500: consecutive windows can share 0 to 194 tokens (this model's windows "
            "hold 195 sequence tokens); the default is a tenth of a window (19)"),
])
def test_overlap_is_checked_with_a_one_line_error(one_peak, capsys, value, message):
    assert cli.main(["predict", str(one_peak), "--overlap", value, "-q"]) == 2
    assert _error(capsys) == message


def test_overlap_sets_the_windows(tmp_path, lam, capsys):
    fasta = tmp_path / "long.fa"
    fasta.write_text(f">lam\n{lam.seq[:1000]}\n")
    out = tmp_path / "w.tsv"
    assert cli.main(["predict", str(fasta), "--overlap", "50", "--per-window", "-o", str(out), "-q"]) == 0
    rows = dnallm.io.writers.read_results(out)
    starts = rows.start.tolist()
    # 195 6-mers per window, each starting one bp after the previous: 145 bp between window starts
    assert starts[:-1] == list(range(0, 145 * (len(starts) - 1), 145))
    assert rows.end.iloc[-1] == 1000


# -- 26: records far from the trained length ------------------------------------------------------------------------

def test_records_far_from_the_trained_length_are_counted_in_one_warning(demo, caplog):
    records = {"short": "ACGTACGTACGTACGT", "fits": "ACGGT" * 40, "short2": "ACGT" * 10, "long": "ACGGT" * 100}
    with caplog.at_level(logging.WARNING, logger="dnallm"):
        demo.predict(records)
    warnings = [r.getMessage() for r in caplog.records if "trained on" in r.getMessage()]
    assert warnings == [
        "2 of 4 records are much shorter than the 200 bp this model was trained on (under 100 bp; shortest 16 bp); "
        "1 of 4 records are much longer than the 200 bp this model was trained on (over 400 bp; longest 500 bp): "
        "its outputs there are extrapolations, however confident they look"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dnallm"):
        demo.predict({"fits": "ACGGT" * 40, "also": "ACGT" * 60})
    assert not [r for r in caplog.records if "trained on" in r.getMessage()]


def test_the_cli_shows_the_length_warning_once(tmp_path):
    fasta = tmp_path / "short.fa"
    fasta.write_text("".join(f">s{i}\nACGTACGTACGTACGT\n" for i in range(5)))
    result = run_dnallm("predict", str(fasta), "-q")  # a process of its own: the CLI sets up its logging
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert err.count("much shorter") == 1 and "5 of 5 records are much shorter than the 200 bp" in err


def test_a_malformed_trained_length_is_refused(tmp_path):
    folder = tmp_path / "demo"
    shutil.copytree(dnallm.registry.load_registry()["demo-oct4-mafk"].location, folder)
    config = json.loads((folder / "config.json").read_text())
    config["dnallm_trained_length_bp"] = [300, 200]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(dnallm.DnallmError, match=r"dnallm_trained_length_bp must be \[shortest, longest\]"):
        dnallm.DNAInference(folder)


# -- 27: both strands -----------------------------------------------------------------------------------------------

def _direct_probabilities(model, hf, seq: str, k: int) -> np.ndarray:
    text = " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))
    ids = torch.tensor([hf(text)["input_ids"]])
    with torch.inference_mode():
        return model(input_ids=ids).logits.softmax(-1)[0].double().numpy()


def test_both_strands_is_the_mean_of_direct_forwards_of_each_window_and_its_reverse_complement(model_dirs, lam):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = model_dirs["overlapping_kmer"]
    inf = dnallm.DNAInference(path, attn_implementation="eager")
    model = AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="eager").eval()
    hf = AutoTokenizer.from_pretrained(path)
    seq = lam.seq[5000:5400]
    rows = inf.predict({"r": seq}, per_window=True, both_strands=True)
    assert len(rows) > 1  # several windows
    for row in rows.itertuples():
        window = seq[row.start : row.end]  # coordinates stay on the forward strand
        expected = (_direct_probabilities(model, hf, window, 6)
                    + _direct_probabilities(model, hf, reverse_complement(window), 6)) / 2
        np.testing.assert_allclose([getattr(row, c) for c in inf.output_columns], expected, atol=2e-6)
    forward = inf.predict({"r": seq}, per_window=True)
    assert not np.allclose(forward[inf.output_columns], rows[inf.output_columns], atol=1e-4)
    record = inf.predict({"r": seq}, both_strands=True)
    np.testing.assert_allclose(record[inf.output_columns].to_numpy()[0],
                               rows[inf.output_columns].to_numpy().mean(0), atol=1e-6)
    # a record reads the same from either strand
    rc = inf.predict({"r": reverse_complement(lam.seq[5000:5197])}, both_strands=True)
    fw = inf.predict({"r": lam.seq[5000:5197]}, both_strands=True)
    np.testing.assert_allclose(rc[inf.output_columns], fw[inf.output_columns], atol=2e-6)


def test_both_strands_embeddings_are_the_mean_of_direct_forwards(model_dirs, lam):
    from transformers import AutoModel, AutoTokenizer

    path = model_dirs["overlapping_kmer"]
    inf = dnallm.DNAInference(path, attn_implementation="eager")
    base = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    hf = AutoTokenizer.from_pretrained(path)
    seq = lam.seq[100:180]

    def pooled(s: str) -> np.ndarray:
        ids = torch.tensor([hf(" ".join(s[i : i + 6] for i in range(len(s) - 5)))["input_ids"]])
        with torch.inference_mode():
            hidden = base(input_ids=ids).last_hidden_state[0, 1:-1]  # sequence tokens: no [CLS], no [SEP]
        return hidden.double().mean(0).numpy()

    _, vectors = inf.embed({"r": seq}, both_strands=True)
    np.testing.assert_allclose(vectors[0], (pooled(seq) + pooled(reverse_complement(seq))) / 2, atol=2e-6)


def test_cli_both_strands_flag(tmp_path, model_dirs, lam):
    fasta = tmp_path / "r.fa"
    fasta.write_text(f">r\n{lam.seq[5000:5400]}\n")
    out, out2 = tmp_path / "both.tsv", tmp_path / "e.npz"
    path = str(model_dirs["overlapping_kmer"])
    assert cli.main(["predict", str(fasta), "-m", path, "--both-strands", "-o", str(out), "-q"]) == 0
    expected = dnallm.DNAInference(path).predict(str(fasta), both_strands=True)
    got = dnallm.io.writers.read_results(out)
    np.testing.assert_allclose(got.iloc[:, 3:].to_numpy(), expected.iloc[:, 3:].to_numpy(), atol=1e-6)
    assert cli.main(["embed", str(fasta), "-m", path, "--both-strands", "-o", str(out2), "-q"]) == 0
    _, vectors = dnallm.DNAInference(path).embed(str(fasta), both_strands=True)
    np.testing.assert_allclose(np.load(out2)["embeddings"], vectors, atol=1e-6)
