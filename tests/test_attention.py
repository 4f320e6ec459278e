"""Attention over base pairs: exact projections for every tokenizer family, a real forward pass whose attention
is known in advance, eager only for the call, and the figures and tracks built on them."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dnallm import DNAInference, DnallmError, read_fasta
from dnallm.attention import AttentionMap, project_to_bp, projection_matrix
from tests.support import FAMILIES, run_dnallm


def naive_projection(spans: np.ndarray, start: int, end: int) -> np.ndarray:
    """The rule written out base by base: P[b, t] = (1 / width_t) / (tokens covering b), if t covers b."""
    matrix = np.zeros((end - start, len(spans)))
    for b in range(start, end):
        covering = [t for t, (s, e) in enumerate(spans) if s >= 0 and s <= b < e]
        for t in covering:
            s, e = spans[t]
            matrix[b - start, t] = 1.0 / (e - s) / len(covering)
    return matrix


def binned(rows: np.ndarray, size: int) -> np.ndarray:
    return np.stack([rows[i : i + size].mean(0) for i in range(0, len(rows), size)])


def make_map(tok, seq: str, weights: np.ndarray, max_bins: int = 10_000) -> AttentionMap:
    enc = tok.encode(seq)
    from dnallm.attention import bin_size_for

    return AttentionMap(
        record_id="r", window=0, n_windows=1, start=0, end=len(seq), sequence=seq, layers=[0], heads=[0],
        weights=weights[None, None].astype(np.float32), input_ids=enc.input_ids, tokens=[], spans=enc.spans,
        bin_size=bin_size_for(len(seq), max_bins), track_query="cls",
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_equals_the_rule_written_out(tokenizers, family):
    """A random token attention matrix, projected by dnallm and by the rule base by base."""
    tok = tokenizers[family]
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 50)) + "NN" + "".join(rng.choice(list("ACGT"), 41))  # 93 bp
    enc = tok.encode(seq)
    attention = rng.random((len(enc), len(enc)))
    attention /= attention.sum(1, keepdims=True)
    reference = naive_projection(enc.spans, 0, len(seq))

    assert np.allclose(projection_matrix(enc.spans, 0, len(seq)), reference, atol=1e-12)
    assert np.allclose(project_to_bp(attention[0], enc.spans, len(seq)), reference @ attention[0], atol=1e-12)
    amap = make_map(tok, seq, attention)
    assert np.allclose(amap.bp_matrix[0], reference @ attention @ reference.T, atol=1e-7)
    assert np.allclose(amap.track[0], reference @ attention[0], atol=1e-7)
    # a region, and bins of 4 bp (the last bin shorter)
    sub = naive_projection(enc.spans, 10, 80)
    assert np.allclose(amap.matrix(region=(10, 80)), sub @ attention @ sub.T, atol=1e-7)
    coarse = binned(reference, 4)
    assert np.allclose(amap.matrix(max_bins=24), coarse @ attention @ coarse.T, atol=1e-7)
    # a base's weight is shared, not multiplied: overlapping k-mers sum to 1/k per base, the others to 1/width
    covered = projection_matrix(enc.spans, 0, len(seq)).sum(1)
    if family == "overlapping_kmer":
        assert np.allclose(covered, 1 / tok.k)
    else:
        widths = [e - s for s, e in enc.spans if s >= 0]
        assert np.allclose(np.sort(np.unique(np.round(1 / covered))), np.unique(widths))


def point_attention_at(model, token_id: int, scale: float = 20.0) -> None:
    """Set weights so that in layer 0 every query attends to the tokens with id `token_id` and to nothing else:
    only that token's embedding is non-zero, queries are one constant vector, keys are the layer input."""
    base = model.base_model
    emb = base.embeddings
    d = model.config.hidden_size
    sign = torch.tensor([1.0, -1.0] * (d // 2))  # zero mean: LayerNorm keeps it as it is
    with torch.no_grad():
        emb.word_embeddings.weight.zero_()
        emb.word_embeddings.weight[token_id] = 5 * sign
        emb.position_embeddings.weight.zero_()
        if hasattr(emb, "token_type_embeddings"):
            emb.token_type_embeddings.weight.zero_()
        attention = base.encoder.layer[0].attention.self
        attention.query.weight.zero_()
        attention.query.bias.copy_(scale * sign)
        attention.key.weight.copy_(torch.eye(d))
        attention.key.bias.zero_()


@pytest.mark.parametrize("family", FAMILIES)
def test_known_attention_through_a_real_forward(model_dirs, tokenizers, family):
    """Every query attends to one chosen token: the extracted weights are that one-hot row, and the bp
    projection is exactly the rule applied to it."""
    rng = random.Random(5)
    if family == "single_nucleotide":  # BigBird, 600 tokens: block-sparse; the N sits in the global first block
        seq = "ACG" + "N" + "".join(rng.choice("ACGT") for _ in range(596))
    else:
        seq = "".join(rng.choice("ACGT") for _ in range(90 if family == "overlapping_kmer" else 40))
    inf = DNAInference(model_dirs[family])
    enc = inf.tokenizer.encode(seq)
    content = enc.input_ids[~enc.special_mask].tolist()
    chosen = next(i for i in content if content.count(i) == 1)  # a token that occurs once
    point_attention_at(inf.model, chosen)

    amap = inf.attentions(seq, layers=0, heads="all")
    position = int(np.flatnonzero(enc.input_ids == chosen)[0])
    expected = np.zeros((len(enc), len(enc)))
    expected[:, position] = 1.0
    assert amap.weights.shape == (1, inf.model.config.num_attention_heads, len(enc), len(enc))
    assert np.abs(amap.weights[0] - expected).max() < 1e-6
    reference = naive_projection(enc.spans, 0, len(seq))
    assert np.allclose(amap.track[0], reference[:, position], atol=1e-6)
    assert np.allclose(amap.bp_matrix[0], reference @ expected @ reference.T, atol=1e-6)
    s, e = enc.spans[position]
    assert set(np.flatnonzero(amap.track[0] > 1e-6)) == set(range(s, e))  # attention lands on the token's bases
    if family == "single_nucleotide":
        assert amap.attention_type == "block_sparse" and seq[s:e] == "N"


def test_only_the_asked_layers_and_heads_are_kept(model_dirs):
    inf = DNAInference(model_dirs["overlapping_kmer"])
    seq = "ACGTTGCAATGCAAATTTGCATAACCGGTTACG"
    last = inf.attentions(seq)
    n = len(inf.tokenizer.encode(seq))
    assert last.layers == [1] and last.weights.shape == (1, 4, n, n)
    both = inf.attentions(seq, layers="all", heads=[0, 3])
    assert both.layers == [0, 1] and both.weights.shape == (2, 2, n, n) and both.heads == [0, 3]
    assert np.allclose(both.weights[1, 0], last.weights[0, 0]) and np.allclose(both.weights[1, 1], last.weights[0, 3])
    mean = inf.attentions(seq, heads="mean")
    assert mean.heads is None and mean.weights.shape == (1, 1, n, n)
    assert np.allclose(mean.weights[0, 0], last.weights[0].mean(0), atol=1e-6)
    assert np.allclose(last.weights.sum(-1), 1.0, atol=1e-5)  # rows are attention distributions
    with pytest.raises(DnallmError, match="layer 2 does not exist: the model has 2 layers"):
        inf.attentions(seq, layers=2)
    with pytest.raises(DnallmError, match="head 4 does not exist"):
        inf.attentions(seq, heads=[4])
    with pytest.raises(DnallmError, match="layer 0 was not extracted"):
        last.token_attention(0)


def test_eager_for_the_call_only(model_dirs, monkeypatch):
    """attentions() runs eager; the backend chosen at load (sdpa) is back for predict."""
    import torch.nn.functional as F

    calls = []
    real = F.scaled_dot_product_attention

    def counting(*args, **kwargs):  # the real kernel, counted
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    inf = DNAInference(model_dirs["overlapping_kmer"])
    assert inf.attn_implementation == "sdpa"
    inf.plot_attentions("ACGTTGCAATGCAAATTTGCATAACCGGTTACG")
    assert calls == []  # eager: no sdpa call while extracting
    assert inf.model.config._attn_implementation == "sdpa"
    before = inf.predict(["ACGTTGCAATGCAAATTTGCATAACCGGTTACG"])
    assert len(calls) == inf.model.config.num_hidden_layers  # predict runs sdpa again
    fresh = DNAInference(model_dirs["overlapping_kmer"]).predict(["ACGTTGCAATGCAAATTTGCATAACCGGTTACG"])
    assert np.allclose(before[["Mafk", "Oct4"]], fresh[["Mafk", "Oct4"]], atol=1e-6)


def test_windows_and_regions_of_long_records(data_dir, demo):
    inf = demo  # the demo: 200 bp windows
    (phix,) = read_fasta(data_dir / "phiX174.fa")
    amap = inf.attentions(phix, region=(1000, 1100))  # straddles two of the regular windows: a centred one
    assert amap.start <= 1000 and 1100 <= amap.end and amap.n_windows > 1
    assert abs((amap.start + amap.end) / 2 - 1050) <= 3
    assert amap.sequence == phix.seq[amap.start : amap.end]
    assert amap.track.shape == (1, amap.end - amap.start)
    first = inf.attentions(phix)
    assert (first.window, first.start, first.end) == (0, 0, 200)
    assert inf.attentions(phix, window=3).window == 3
    with pytest.raises(DnallmError, match="record 'phix': bp 0-500 take 500 tokens; the model takes 195 at once"):
        inf.attentions(phix, region=(0, 500))
    with pytest.raises(DnallmError, match="one record at a time"):
        inf.attentions(str(data_dir / "peaks.fa"))
    track = inf.attention_track(phix, layer=0)
    assert track.shape == (5386,) and (track > 0).all()
    # the whole-record track is each regular window's own track, averaged where windows overlap
    total, count = np.zeros(len(phix)), np.zeros(len(phix))
    for i in range(first.n_windows):
        one = inf.attentions(phix, layers=0, heads="mean", window=i, max_bins=1)
        total[one.start : one.end] += one.track_for(0, "mean")
        count[one.start : one.end] += 1
    assert count.min() >= 1 and count.max() == 2
    assert np.allclose(track, total / count, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# figures


def test_heatmap_axes_are_in_bp(tmp_path, data_dir, demo):
    import matplotlib

    matplotlib.use("Agg")
    inf = demo
    peak = next(read_fasta(data_dir / "oct4_test.fa"))
    fig = inf.plot_attentions(peak, layer=-1)
    heatmap = next(ax for ax in fig.axes if ax.images)
    assert heatmap.get_xlabel() == "key position (bp)" and heatmap.get_ylabel() == "query position (bp)"
    assert heatmap.get_xlim() == (0, 200) and heatmap.get_ylim() == (200, 0)
    assert heatmap.images[0].get_array().shape == (200, 200)
    assert " ".join(fig._suptitle.get_text().split()).startswith(f"{peak.id}: layer 1 of 0-1, mean of heads (bp 0-200")
    for suffix, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        fig.savefig(tmp_path / f"a.{suffix}")
        assert (tmp_path / f"a.{suffix}").read_bytes().startswith(magic)

    zoom = inf.plot_attentions(peak, head=[0, 1, 2], region=(40, 80), highlight=[(50, 58)])
    panels = [ax for ax in zoom.axes if ax.images]
    assert len(panels) == 3 and [ax.get_title() for ax in panels] == ["head 0", "head 1", "head 2"]
    bases = [t.get_text() for t in panels[0].get_xticklabels(minor=True)]
    assert "".join(bases) == peak.seq[40:80]  # short regions write the bases out


def test_long_bigbird_is_binned(model_dirs, data_dir):
    import matplotlib

    matplotlib.use("Agg")
    inf = DNAInference(model_dirs["single_nucleotide"])  # 1,024 tokens of char BigBird
    (lam,) = read_fasta(data_dir / "lambda_phage.fa.gz")
    fig = inf.plot_attentions(lam, max_bins=256)
    heatmap = next(ax for ax in fig.axes if ax.images)
    assert heatmap.images[0].get_array().shape == (256, 256)
    title = " ".join(fig._suptitle.get_text().split())  # the title is wrapped to the figure's width
    assert "bins of 4 bp" in title and "block sparse attention" in title and "window 0 of 0-52" in title
    # block-sparse maps are the attention the model applied: every row is a distribution over the keys
    amap = inf.attentions(lam, layers="all", window=7)
    assert amap.attention_type == "block_sparse"
    assert np.allclose(amap.weights.sum(-1), 1.0, atol=1e-5)
    assert (amap.weights == 0).mean() > 0.5  # and sparse: most query-key pairs are never computed


def test_attention_command(data_dir, tmp_path, demo):
    peak = "chr9:37339901-37340101"
    result = run_dnallm("attention", str(data_dir / "peaks.fa"), "--id", peak, "--layer", "0",
                        "-o", "fig.png", "--track", "track.bedgraph", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")
    lines = (tmp_path / "track.bedgraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    rows = [line.split("\t") for line in lines[1:]]
    assert {r[0] for r in rows} == {"chr9"}  # the id names its genome interval: the track lands there
    starts, ends = [int(r[1]) for r in rows], [int(r[2]) for r in rows]
    assert starts[0] == 37339901 and ends[-1] == 37340101 and starts[1:] == ends[:-1]  # 0-based, contiguous
    values = np.concatenate([[float(r[3])] * (e - s) for r, s, e in zip(rows, starts, ends)])
    rec = next(r for r in read_fasta(data_dir / "peaks.fa") if r.id == peak)
    assert np.allclose(values, demo.attention_track(rec, layer=0), rtol=1e-5)

    missing = run_dnallm("attention", str(data_dir / "peaks.fa"), "-o", "x.png", cwd=tmp_path)
    assert missing.returncode == 2 and "choose one with --id" in missing.stderr


def test_tiny_models_are_unchanged_by_surgery(model_dirs):
    """point_attention_at edits a loaded copy only; the saved model used by other tests is untouched."""
    import hashlib

    weights = model_dirs["bpe"] / "model.safetensors"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()
    a = DNAInference(model_dirs["bpe"])
    point_attention_at(a.model, 10)
    b = DNAInference(model_dirs["bpe"])
    assert not torch.equal(a.model.base_model.embeddings.word_embeddings.weight,
                           b.model.base_model.embeddings.word_embeddings.weight)
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == before
