"""Per-base attribution: ISM against a brute-force transformers forward of every mutant, for all four tokenizer
families; the target's log-odds against predict's probabilities; attention through the same interface; the npz and
bedGraph outputs; the `dnallm attribute` command."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dnallm import DNAInference, read_fasta
from dnallm.attribution import BASES, Attribution, ism_windows
from dnallm.errors import InputError, OptionError
from dnallm.io.fasta import Record
from dnallm.testing import DATA, write_fasta
from tests.support import FAMILIES, run_main

LENGTH = 80  # bp of each test record
#: max_tokens per family: small enough that the 80 bp records need two or more windows (DNABERT: 46 6-mers =
#: 51 bp; NT: 10 tokens, about 60 bp; BigBird: 46 bp; BPE: as its vocabulary cuts them)
MAX_TOKENS = {"overlapping_kmer": 48, "nonoverlapping_kmer": 12, "bpe": 20, "single_nucleotide": 48}


def real_records(n: int = 2, length: int = LENGTH) -> list[tuple[str, str]]:
    """The first ``n`` Oct4 test peaks cut to ``length`` bp, named by their genome coordinates."""
    out = []
    for rec in read_fasta(DATA / "oct4_test.fa"):
        chrom, span = rec.id.split(":")
        start = int(span.split("-")[0])
        out.append((f"{chrom}:{start}-{start + length}", rec.seq[:length]))
        if len(out) == n:
            return out
    raise AssertionError("too few test peaks")


def hf_text(family: str, seq: str) -> str:
    """What the model's own Hugging Face tokenizer takes: DNABERT's space-separated overlapping 6-mers (the
    builder's k), raw bases for the other families."""
    if family == "overlapping_kmer":
        return " ".join(seq[i : i + 6] for i in range(len(seq) - 5))
    return seq


class Direct:
    """The target (log-odds of the last label, ``z_1 - z_0`` for the two-label tiny models) by a plain
    transformers forward, tokenized by the model's own Hugging Face tokenizer. Sequences of the same number of
    tokens run together, unpadded (so each one's output is that of its forward alone)."""

    def __init__(self, family: str, path):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.family = family
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        assert self.model.config.num_labels == 2

    def __call__(self, seqs: list[str]) -> dict[str, float]:
        ids = {seq: self.tokenizer(hf_text(self.family, seq))["input_ids"] for seq in set(seqs)}
        by_length: dict[int, list[str]] = {}
        for seq, row in ids.items():
            by_length.setdefault(len(row), []).append(seq)
        out = {}
        for group in by_length.values():
            batch = torch.tensor([ids[seq] for seq in group])
            with torch.inference_mode():
                z = self.model(input_ids=batch, attention_mask=torch.ones_like(batch)).logits.double()
            out.update(zip(group, (z[:, 1] - z[:, 0]).tolist()))
        return out


def brute_force(direct: Direct, seq: str, spans: list[tuple[int, int]], cases: list[tuple[int, str]]) -> list[float]:
    """ism[i, base] by its definition for each ``(i, base)``: over the windows holding bp ``i``, the mean of
    target(the window's bases with base i set to ``base``) - target(the window's bases)."""
    pairs = {}
    for i, base in cases:
        pairs[i, base] = [(seq[a:i] + base + seq[i + 1 : b], seq[a:b]) for a, b in spans if a <= i < b]
        assert pairs[i, base], f"no window holds bp {i}"
    value = direct([s for both in pairs.values() for pair in both for s in pair])
    return [float(np.mean([value[m] - value[r] for m, r in pairs[case]])) for case in cases]


@pytest.mark.parametrize("family", FAMILIES)
def test_ism_equals_brute_force(family, model_dirs):
    """For random positions and bases of real peaks (and bases where windows overlap), ism[i, b] equals the
    target of the mutant window minus the reference window by a direct transformers forward, max |diff| < 1e-4;
    the reference base's column is 0 and the per-bp score is minus the mean of the row."""
    inf = DNAInference(model_dirs[family], max_tokens=MAX_TOKENS[family])
    records = real_records()
    result = inf.attribute(records)
    assert result.ids == [rid for rid, _ in records] and result.method == "ism" and result.target == "Oct4"
    direct = Direct(family, model_dirs[family])
    rng = random.Random(0)
    worst, windows = 0.0, []
    for r, (rid, seq) in enumerate(records):
        deltas = result.ism_of(r)
        assert deltas.shape == (len(seq), 4)
        spans = [(w.start, w.end) for w in ism_windows(inf.runner, Record(rid, seq))]
        windows.append(len(spans))
        positions = rng.sample(range(len(seq)), 5)
        if len(spans) > 1 and spans[1][0] < spans[0][1]:  # a base inside two windows
            positions.append(rng.randrange(spans[1][0], spans[0][1]))
        cases = [(i, base) for i in positions for base in rng.sample(BASES, 2) if base != seq[i]]
        got = [float(deltas[i, BASES.index(base)]) for i, base in cases]
        expected = brute_force(direct, seq, spans, cases)
        assert max(map(abs, expected)) > 1e-3  # mutations move the target far more than the tolerance
        worst = max(worst, float(np.abs(np.subtract(got, expected)).max()))
        assert all(deltas[i, BASES.index(seq[i])] == 0.0 for i in positions)
        np.testing.assert_allclose(result.scores_of(rid), -deltas.astype(np.float64).mean(1), atol=1e-6)
    print(f"{family}: windows per record {windows}, max |ism - brute force| = {worst:.2e}")
    assert max(windows) >= 2, f"{family}: the records should need several windows at max_tokens {MAX_TOKENS[family]}"
    assert worst < 1e-4


def test_ism_is_the_change_of_predicts_log_odds(model_dirs):
    """For a record in one window, ism[i, b] = logit(p_mutant) - logit(p_reference) with p = predict's
    probability of the target label; the other label's deltas are the negatives (two labels)."""
    inf = DNAInference(model_dirs["overlapping_kmer"])  # 128 tokens: an 80 bp record fits one window
    (rid, seq), = real_records(1)
    result = inf.attribute([(rid, seq)])
    mafk = inf.attribute([(rid, seq)], target="Mafk")
    assert mafk.target == "Mafk"
    rng = random.Random(1)
    cases = [(i, b) for i in rng.sample(range(len(seq)), 6) for b in BASES if b != seq[i]]
    mutants = [seq[:i] + b + seq[i + 1 :] for i, b in cases]
    p = inf.predict([seq] + mutants)["Oct4"].to_numpy(np.float64)
    logit = np.log(p / (1 - p))
    got = np.array([result.ism_of(0)[i, BASES.index(b)] for i, b in cases])
    np.testing.assert_allclose(got, logit[1:] - logit[0], atol=1e-4)
    np.testing.assert_allclose(mafk.ism, -result.ism, atol=1e-5)


def test_attention_method_is_the_attention_track(model_dirs):
    """method='attention': one layer's per-bp track as attention_track gives it; 'all': the mean over layers."""
    inf = DNAInference(model_dirs["overlapping_kmer"], max_tokens=64)
    (rid, seq), = real_records(1)
    one = inf.attribute([(rid, seq)], method="attention", layer=0)
    every = inf.attribute([(rid, seq)], method="attention", layer="all")
    tracks = [inf.attention_track((rid, seq), layer=layer) for layer in range(inf.model.config.num_hidden_layers)]
    assert one.ism is None and one.lengths.tolist() == [len(seq)]
    np.testing.assert_allclose(one.scores_of(0), tracks[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(every.scores_of(0), np.mean(tracks, axis=0), rtol=1e-5, atol=1e-7)
    assert "all" in every.target


def test_refused_options_and_skipped_records(model_dirs):
    inf = DNAInference(model_dirs["overlapping_kmer"])
    with pytest.raises(OptionError, match="ism, integrated_gradients, gradient_x_input, attention"):
        inf.attribute("ACGTACGTAC", method="saliency")
    with pytest.raises(OptionError, match="unknown target 'NOPE'.*Mafk, Oct4"):
        inf.attribute("ACGTACGTAC", target="NOPE")
    with pytest.raises(OptionError, match="no target"):
        inf.attribute("ACGTACGTAC", method="attention", target="Oct4")
    records = [("short", "ACGT"), ("ok", "ACGTTGCAAC")]  # 4 bp: shorter than one 6-mer
    with pytest.raises(InputError, match="shorter than one 6-mer"):
        inf.attribute(records)
    skipped = []
    result = inf.attribute(records, on_error="skip", on_skip=skipped.append)
    assert result.ids == ["ok"] and [s.id for s in skipped] == ["short"]
    assert result.offsets.tolist() == [0, 10] and result.ism.shape == (10, 4)


def test_npz_round_trip(tmp_path):
    ism = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    result = Attribution(["a", "chr1:100-103"], np.array([0, 2, 5]), np.arange(5, dtype=np.float32), ism, "ism",
                         "Oct4")
    path = tmp_path / "out.npz"
    result.write_npz(path)
    with np.load(path, allow_pickle=False) as saved:
        assert sorted(saved.files) == ["ids", "ism", "method", "offsets", "scores", "target"]
        assert saved["ids"].tolist() == ["a", "chr1:100-103"]
        assert saved["offsets"].tolist() == [0, 2, 5] and saved["offsets"].dtype == np.int64
        assert saved["scores"].shape == (5,) and saved["ism"].shape == (5, 4)
        assert str(saved["method"]) == "ism" and str(saved["target"]) == "Oct4"
    back = Attribution.read_npz(path)
    assert back.ids == result.ids and back.lengths.tolist() == [2, 3]
    np.testing.assert_array_equal(back.ism_of("chr1:100-103"), ism[2:])
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_bedgraph_coordinates(tmp_path):
    """An id chr1:100-300 of 200 bp is placed at chr1 100-300; another id from 0 on its own name; equal
    neighbours merged."""
    scores = np.concatenate([np.full(50, 1.0), np.full(150, 2.5), [0.5, 0.5, -1.0]]).astype(np.float32)
    result = Attribution(["chr1:100-300", "peak7"], np.array([0, 200, 203]), scores, None, "ism", "Oct4")
    path = tmp_path / "out.bedgraph"
    result.write_bedgraph(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    assert lines[1:] == ["chr1\t100\t150\t1", "chr1\t150\t300\t2.5", "peak7\t0\t2\t0.5", "peak7\t2\t3\t-1"]


def test_cli_attribute(model_dirs, tmp_path, capsys):
    """`dnallm attribute` writes the library's scores to .npz and .bedgraph; an unknown --target is one error
    line and exit code 2; an output over the input is refused."""
    fasta = write_fasta(tmp_path / "peaks.fa", real_records(1, 60))
    model = str(model_dirs["overlapping_kmer"])
    out = tmp_path / "scores.npz"
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-q", "-o", str(out)], capsys)
    assert code == 0, err
    expected = DNAInference(model).attribute(str(fasta))
    saved = Attribution.read_npz(out)
    assert saved.ids == expected.ids
    np.testing.assert_allclose(saved.ism, expected.ism, atol=1e-6)
    bedgraph = tmp_path / "scores.bedgraph"
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-q", "-o", str(bedgraph)], capsys)
    chrom, start = expected.ids[0].split(":")[0], int(expected.ids[0].split(":")[1].split("-")[0])
    assert code == 0 and bedgraph.read_text().splitlines()[1].startswith(f"{chrom}\t{start}\t")
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-q", "--target", "NOPE", "-o", str(out)],
                             capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("dnallm: error: unknown target 'NOPE'")
    (tmp_path / "link.npz").symlink_to(fasta)
    code, _, err = run_main(["attribute", str(fasta), "-m", model, "-o", str(tmp_path / "link.npz")], capsys)
    assert code == 2 and "is the input" in err

