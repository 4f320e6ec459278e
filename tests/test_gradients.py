"""Gradient attributions (dnallm.gradients) against transformers and torch.autograd directly, on a real Oct4 peak,
for every tokenizer family: integrated gradients' completeness, gradient x input, the projection onto bases."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from dnallm import bigbird, gradients
from dnallm.errors import DnallmError, OptionError
from dnallm.io.fasta import read_fasta
from dnallm.targets import target_head
from tests.support import FAMILIES

STEPS = 20  # integration points: on these models 20 already bring the sum within 2e-5 of the difference


@pytest.fixture(scope="module")
def record(data_dir):
    rec = next(iter(read_fasta(data_dir / "peaks.fa")))  # chr4:126246986-126247186, a 200 bp Oct4 peak
    assert len(rec.seq) == 200
    return rec


@pytest.fixture(scope="module")
def loaded(model_dirs):
    """family -> (runner, target head): the default target, the last label (Oct4)."""
    from dnallm import DNAInference

    out = {}
    for family in FAMILIES:
        inf = DNAInference(model_dirs[family], device="cpu")
        head, name = target_head(inf._loaded.head, inf.runner.model.config)
        assert name == "Oct4"
        out[family] = (inf.runner, head)
    return out


def direct_embeds(model, ids: torch.Tensor, family: str) -> torch.Tensor:
    """What the transformers model takes as ``inputs_embeds`` for ``ids`` ``(1, n)``, built here by hand."""
    if family == "nonoverlapping_kmer":  # transformers' ESM passes inputs_embeds to its encoder untouched
        positions = torch.arange(ids.shape[1])[None] + model.config.pad_token_id + 1
        return model.esm.embeddings(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=positions)
    return model.get_input_embeddings()(ids)


def direct_log_odds(model, **inputs) -> torch.Tensor:
    """log p(Oct4) - log p(Mafk) = z_1 - z_0, from a plain transformers forward, ``(batch,)``."""
    logits = model(**inputs).logits.float()
    return logits[:, 1] - logits[:, 0]


def window_ids(enc) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.as_tensor(np.asarray(enc.input_ids, dtype=np.int64))[None]
    return ids, torch.as_tensor(enc.spans[:, 0] >= 0)[None]


@pytest.mark.parametrize("family", FAMILIES)
def test_integrated_gradients_sum_to_output_minus_baseline_output(loaded, record, family):
    runner, head = loaded[family]
    model = runner.model
    windows = runner.windows(record)
    if family == "overlapping_kmer":
        assert len(windows) == 2  # 195 6-mers, 126 a window: both windows are checked
    if family == "single_nucleotide":
        assert bigbird.runs_sparse(model.config, len(windows[0]))  # 202 tokens: block-sparse attention
    for enc in windows:
        got = gradients.attribute_window(runner, enc, head, "integrated_gradients", steps=STEPS)
        ids, content = window_ids(enc)
        mask = torch.ones_like(ids)
        with torch.no_grad():
            output = float(direct_log_odds(model, input_ids=ids, attention_mask=mask))
            baseline = direct_embeds(model, ids.masked_fill(content, model.config.pad_token_id), family)
            baseline_output = float(direct_log_odds(model, inputs_embeds=baseline, attention_mask=mask))
        difference = output - baseline_output
        assert abs(difference) > 1e-2  # a difference the attributions can miss
        assert got.output == pytest.approx(output, rel=1e-5, abs=1e-6)
        assert got.baseline_output == pytest.approx(baseline_output, rel=1e-5, abs=1e-6)
        assert got.values.shape == (len(enc),) and got.values.dtype == np.float64
        assert abs(got.values.sum() - difference) <= 0.01 * abs(difference)
        assert got.delta == pytest.approx(got.values.sum() - difference, abs=1e-5)
        assert np.all(got.values[~content[0].numpy()] == 0)  # the baseline keeps the special tokens
    if family == "single_nucleotide":  # the configured attention is back after the windows
        assert model.bert.attention_type == "block_sparse" and model.bert.encoder.layer[0].attention.self.__class__ \
            .__name__ == "BigBirdBlockSparseAttention"


def direct_gradient_x_input(runner, enc, family: str) -> np.ndarray:
    """``(n_tokens,)`` sum over the hidden dimension of input x d(log-odds)/d(input), by torch.autograd."""
    ids, _ = window_ids(enc)
    with torch.no_grad():
        embeds = direct_embeds(runner.model, ids, family)
    embeds = embeds.clone().requires_grad_(True)
    with torch.enable_grad():
        target = direct_log_odds(runner.model, inputs_embeds=embeds, attention_mask=torch.ones_like(ids))
        (grad,) = torch.autograd.grad(target.sum(), embeds)
    return (grad * embeds).sum(-1)[0].detach().numpy().astype(np.float64)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradient_x_input_is_autograd_grad_times_input(loaded, record, family):
    runner, head = loaded[family]
    for enc in runner.windows(record):
        got = gradients.token_attributions(runner, enc, head, "gradient_x_input")
        expected = direct_gradient_x_input(runner, enc, family)
        assert np.abs(expected).max() > 1e-4
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("family", FAMILIES)
def test_per_bp_scores_spread_tokens_over_their_bases_and_average_windows(loaded, record, family):
    """A token's value spread evenly over its bases, a base's covering tokens averaged, windows averaged."""
    runner, head = loaded[family]
    length = len(record.seq)
    per_window = []
    for enc in runner.windows(record):
        values = direct_gradient_x_input(runner, enc, family)
        total, count = np.zeros(length), np.zeros(length)
        for value, (start, end) in zip(values, enc.spans):
            if start >= 0:
                total[start:end] += value / (end - start)
                count[start:end] += 1
        per_window.append((np.divide(total, count, out=np.zeros(length), where=count > 0), count > 0))
    covered = sum(c for _, c in per_window)
    expected = sum(v for v, _ in per_window) / np.maximum(covered, 1)
    got = gradients.base_attributions(runner, record, head, "gradient_x_input")
    assert got.shape == (length,) and got.dtype == np.float64
    assert np.all(covered > 0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-8)


class FirstWindowOnly:
    """The real runner, giving only a record's first window (so that bases past it are covered by no token)."""

    def __init__(self, runner):
        self.runner = runner

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def windows(self, rec):
        return self.runner.windows(rec)[:1]


def test_bases_outside_every_token_span_are_zero(loaded, record):
    runner, head = loaded["overlapping_kmer"]
    first = runner.windows(record)[0]
    end = int(first.spans[:, 1].max())
    assert end < len(record.seq)
    got = gradients.base_attributions(FirstWindowOnly(runner), record, head, "integrated_gradients", steps=8)
    assert got.shape == (len(record.seq),)
    assert np.all(got[end:] == 0)
    assert np.count_nonzero(got[:end]) == end


def test_esm_inputs_embeds_are_its_embedding_output(loaded, record):
    """Why dnallm.gradients feeds ESM its embedding module's output: transformers' ESM skips that module on
    inputs_embeds, so its word embeddings alone give another output; the module's output gives the same."""
    runner, _ = loaded["nonoverlapping_kmer"]
    model = runner.model
    ids, _ = window_ids(runner.windows(record)[0])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        from_ids = float(direct_log_odds(model, input_ids=ids, attention_mask=mask))
        words = float(direct_log_odds(model, inputs_embeds=model.get_input_embeddings()(ids), attention_mask=mask))
        module = float(direct_log_odds(model, inputs_embeds=direct_embeds(model, ids, "nonoverlapping_kmer"),
                                       attention_mask=mask))
    assert abs(words - from_ids) > 1e-2
    assert module == pytest.approx(from_ids, rel=1e-5, abs=1e-6)


def test_refuses_embeddings_that_change_the_output(loaded, record):
    runner, head = loaded["bpe"]
    enc = runner.windows(record)[0]
    true = gradients.attribute_window(runner, enc, head, "gradient_x_input").output
    gradients._check_embeddings(runner, head, enc, true)  # its own output passes
    with pytest.raises(DnallmError, match="cannot run on this architecture; use method='ism'"):
        gradients._check_embeddings(runner, head, enc, true + 0.1)


def test_missing_captum_names_the_extra(loaded, record, monkeypatch):
    runner, head = loaded["bpe"]
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(DnallmError, match=r'pip install "dnallm\[attribute\]"'):
        gradients.base_attributions(runner, record, head, "integrated_gradients")


def test_unknown_method_and_steps_are_refused(loaded, record):
    runner, head = loaded["bpe"]
    with pytest.raises(OptionError, match="integrated_gradients, gradient_x_input"):
        gradients.base_attributions(runner, record, head, "saliency")
    with pytest.raises(OptionError, match="steps must be positive"):
        gradients.token_attributions(runner, runner.windows(record)[0], head, "integrated_gradients", steps=0)


def test_masked_lm_integrated_gradients_explain_the_mean_log_probability(tmp_path, record):
    """A language model's target, the mean log p(token) over the window's sequence tokens, computed here from
    transformers' logits: the token attributions sum to its change from the baseline."""
    from dnallm import DNAInference, testing

    inf = DNAInference(testing.build_bpe_bert(tmp_path / "mlm", head="masked_lm"), device="cpu")
    runner, model = inf.runner, inf.runner.model
    head, name = target_head(inf._loaded.head, model.config)
    assert name == "mean_log_prob"
    enc = runner.windows(record)[0]
    ids, content = window_ids(enc)
    mask = torch.ones_like(ids)

    def mean_log_prob(**inputs) -> float:
        log_p = model(**inputs, attention_mask=mask).logits.float().log_softmax(-1)
        return float(log_p[0, content[0]].gather(-1, ids[0, content[0]][:, None]).mean())

    with torch.no_grad():
        difference = mean_log_prob(input_ids=ids) - mean_log_prob(
            inputs_embeds=model.get_input_embeddings()(ids.masked_fill(content, model.config.pad_token_id)))
    got = gradients.attribute_window(runner, enc, head, "integrated_gradients", steps=STEPS)
    assert abs(difference) > 1e-2
    assert abs(got.values.sum() - difference) <= 0.01 * abs(difference)
