"""The embedded demo model: shipped inside the package, the default, and as good as its model card says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dnallm import load_registry, read_fasta
from dnallm.registry import DEFAULT_MODEL
from tests.support import run_dnallm


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half): the area under the ROC curve."""
    diff = positive[:, None] - negative[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


@pytest.fixture(scope="module")
def card():
    return json.loads((_location() / "metrics.json").read_text())


def _location():
    from pathlib import Path

    return Path(load_registry()[DEFAULT_MODEL].location)


def test_default_is_the_packaged_demo(demo):
    assert demo.name == DEFAULT_MODEL
    assert demo.head == "classification" and demo.output_columns == ["Mafk", "Oct4"]
    assert demo.tokenizer.family == "overlapping_kmer" and demo.tokenizer.k == 6
    assert demo.tokenizer.max_tokens == 197
    assert demo.model.config.id2label == {0: "Mafk", 1: "Oct4"}
    assert (_location() / "model.safetensors").stat().st_size <= 5_000_000
    assert not list(_location().glob("*.bin"))  # safetensors only


def test_held_out_test_peaks(demo, data_dir, card):
    oct4 = demo.predict(data_dir / "oct4_test.fa")["Oct4"].to_numpy()
    mafk = demo.predict(data_dir / "mafk_test.fa")["Oct4"].to_numpy()
    area = auroc(oct4, mafk)
    accuracy = ((oct4 >= 0.5).sum() + (mafk < 0.5).sum()) / 200
    assert area >= 0.97 and accuracy >= 0.93
    # the model card reports exactly what the shipped weights do
    assert abs(area - card["test_auroc"]) < 1e-9 and abs(accuracy - card["test_accuracy"]) < 1e-9
    assert card["baseline"]["test_auroc"] < area


def test_model_card_carries_the_measured_figures(card):
    text = (_location() / "README.md").read_text()
    assert f"{card['test_auroc']:.3f}" in text and f"{card['baseline']['test_auroc']:.3f}" in text
    assert f"{card['training']['parameters']:,}" in text
    assert "A demo, not a research model" in " ".join(text.replace("*", "").split())


def test_predict_without_a_model_on_the_example_file(data_dir, tmp_path):
    """The README's first command, through the real `dnallm` entry point, hub switched off."""
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = run_dnallm("predict", str(data_dir / "peaks.fa"), "-q", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "length", "n_windows", "Mafk", "Oct4"]
    ids = [r.id for r in read_fasta(data_dir / "peaks.fa")]
    assert [line.split("\t")[0] for line in lines[1:]] == ids
    p_oct4 = np.array([float(line.split("\t")[4]) for line in lines[1:]])
    assert (p_oct4[:5] > 0.5).all() and (p_oct4[5:] < 0.5).all()  # 5 Oct4 peaks, then 5 Mafk peaks
