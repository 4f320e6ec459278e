"""Motif discovery from attribution scores: TF-MoDISco's inputs on hand-made cases, the planted-motif classifier's
ISM / gradient scores into TF-MoDISco and Tomtom (POU5F1 recovered), `dnallm motifs --scores`, and a run in which
nothing passes (headed tables, a message saying why and what to try)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnallm.attribution import Attribution
from dnallm.io.fasta import Record
from dnallm.modisco import modisco_inputs, one_hot
from dnallm.planted import MOTIF_ID, planted_task, site_auroc, word_sites
from dnallm.testing import write_fasta
from tests.support import run_main

PLANTED = Path(__file__).resolve().parent.parent / "examples" / "models" / "planted-pou5f1"


def _attribution(scores, ism=None, ids=("a", "b")) -> Attribution:
    lengths = [len(s) for s in scores]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    deltas = None if ism is None else np.concatenate(ism).astype(np.float32)
    return Attribution(list(ids), offsets, np.concatenate(scores).astype(np.float32), deltas, "ism", "t")


def test_one_hot_pads_and_zeroes_other_letters():
    hot = one_hot(["ACGTN", "ga"])
    assert hot.shape == (2, 5, 4)
    assert hot[0, :4].argmax(1).tolist() == [0, 1, 2, 3]
    assert hot[0, 4].sum() == 0 and hot[1, 2:].sum() == 0  # N and padding
    assert hot[1, 0, 2] == 1 and hot[1, 1, 0] == 1  # lower case read


def test_modisco_inputs_from_ism_fill_the_reference_column():
    # record a = "AC": deltas (A C G T); the reference column is 0 as ISM gives it
    ism_a = np.array([[0.0, -1.0, -2.0, -3.0], [0.5, 0.0, 0.5, 1.0]])
    ism_b = np.array([[1.0, 1.0, 0.0, 2.0]])
    att = _attribution([np.array([1.5, -0.5]), np.array([-1.0])], [ism_a, ism_b])
    hot, hyp = modisco_inputs([Record("a", "AC"), Record("b", "G")], att)
    # centred on each position's mean: row 0 mean -1.5 -> [1.5, 0.5, -0.5, -1.5]; row 1 mean 0.5 -> [0, -.5, 0, .5]
    assert np.allclose(hyp[0, 0], [1.5, 0.5, -0.5, -1.5])
    assert np.allclose(hyp[0, 1], [0.0, -0.5, 0.0, 0.5])
    assert np.allclose(hyp[1, 0], [0.0, 0.0, -1.0, 1.0]) and np.allclose(hyp[1, 1], 0)  # padding row
    contributions = (hot * hyp).sum(2)  # what TF-MoDISco multiplies: the reference base's value, never all zero
    assert np.allclose(contributions[0], [1.5, -0.5]) and np.allclose(contributions[1], [-1.0, 0.0])


def test_modisco_inputs_from_gradients_and_refusals():
    att = _attribution([np.array([2.0, -1.0]), np.array([3.0])])
    hot, hyp = modisco_inputs([Record("a", "AT"), Record("b", "C")], att)
    assert np.allclose(hyp[0], [[2, 0, 0, 0], [0, 0, 0, -1]]) and np.allclose(hyp[1, 0], [0, 3, 0, 0])
    with pytest.raises(Exception, match="not the 1 given|order"):
        modisco_inputs([Record("a", "AT")], att)
    with pytest.raises(Exception, match="record 'b': 1 scores for 2 bp"):
        modisco_inputs([Record("a", "AT"), Record("b", "CC")], att)


def test_site_auroc_and_word_sites_on_hand_cases():
    assert word_sites("aaATGCAAATttATTTGCAT", ("ATGCAAAT", "ATTTGCAT")) == [(2, 10), (12, 20)]
    # the site's bases (1-2) score highest: AUROC 1; lowest: 0; a record without a site is left out
    assert site_auroc([np.array([0.0, 5, 4, 1])], [(1, 3)]) == 1.0
    assert site_auroc([np.array([9.0, 0, 0, 8]), np.array([1.0, 2])], [(1, 3), None]) == 0.0
    # 2 site bases vs 2 others: 3 of the 4 pairs ordered right
    assert site_auroc([np.array([1.0, 3, 2, 4])], [[(1, 2), (3, 4)]]) == 0.75


def test_planted_model_learned_its_motif():
    """The committed planted-motif model tells planted from background sequences (its output depends on the
    motif), through dnallm's public path."""
    from dnallm import DNAInference

    test = planted_task(n=300, seed=5)
    prob = DNAInference(PLANTED).predict(test.records)["planted"].to_numpy()
    assert ((prob > 0.5) == test.labels).mean() > 0.8


@pytest.fixture(scope="module")
def planted_ism_motifs():
    """TF-MoDISco on the planted model's ISM scores of 300 planted sequences against 300 unplanted ones."""
    from dnallm import DNAInference

    task = planted_task(n=600, seed=3)
    inf = DNAInference(PLANTED)
    return inf.find_motifs(task.split(1), task.split(0), scores="ism")


def test_ism_scores_into_tfmodisco_recover_the_planted_motif(planted_ism_motifs):
    result = planted_ism_motifs
    assert result.settings["discovery"] == "tfmodisco" and result.settings["scores"] == "ism"
    assert result.motifs, result.candidates
    top = result.motifs[0]
    assert "ATGCAAAT" in top.consensus or "ATTTGCAT" in top.consensus, top.consensus
    assert MOTIF_ID in [m.id for m in top.matches], [(m.id, m.name, m.qvalue) for m in top.matches]
    assert min(m.qvalue for m in top.matches if m.id == MOTIF_ID) <= 0.05
    assert top.positives_with > 2 * top.background_with and top.qvalue < 1e-6
    table = result.table()
    assert table.loc[0, "rank"] == 1 and table.loc[0, "qvalue"] == top.qvalue


def test_cli_motifs_with_gradient_scores(tmp_path):
    task = planted_task(n=600, seed=4)
    pos = write_fasta(tmp_path / "pos.fa", task.split(1))
    neg = write_fasta(tmp_path / "neg.fa", task.split(0))
    out = tmp_path / "motifs"
    code, _, err = run_main(["motifs", str(pos), "--background", str(neg), "-m", str(PLANTED),
                             "--scores", "gradient_x_input", "-o", str(out)])
    assert code == 0, err
    assert "TF-MoDISco" in err and "gradient_x_input" in err
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert len(table) >= 1 and {"match1_id", "match1_qvalue"} <= set(table.columns)
    assert "POU" in " ".join(table.loc[:2, "match1_name"].astype(str).str.upper())


def test_nothing_passes_says_why_and_writes_headed_tables(tmp_path):
    # background = the positives themselves: no motif can be enriched
    task = planted_task(n=60, seed=6)
    pos = write_fasta(tmp_path / "pos.fa", task.split(1))
    out = tmp_path / "motifs"
    code, _, err = run_main(["motifs", str(pos), "--background", str(pos), "-m", str(PLANTED),
                             "--scores", "attention", "-o", str(out)])
    assert code == 0, err
    assert "no motif passed" in err and "try" in err
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert len(table) == 0 and {"rank", "consensus", "qvalue", "match1_id", "match1_qvalue"} <= set(table.columns)


def test_missing_modisco_names_the_extra(tmp_path, monkeypatch):
    task = planted_task(n=40, seed=7)
    pos = write_fasta(tmp_path / "pos.fa", task.split(1))
    neg = write_fasta(tmp_path / "neg.fa", task.split(0))
    monkeypatch.setitem(sys.modules, "modiscolite", None)
    monkeypatch.setitem(sys.modules, "modiscolite.tfmodisco", None)
    code, _, err = run_main(["motifs", str(pos), "--background", str(neg), "-m", str(PLANTED),
                             "--scores", "gradient_x_input", "-o", str(tmp_path / "m")])
    assert code == 2 and "pip install 'dnallm[motifs]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
