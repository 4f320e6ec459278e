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


def _attribution(scores, ism=None, ids=("a", "b"), method="ism") -> Attribution:
    lengths = [len(s) for s in scores]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    deltas = None if ism is None else np.concatenate(ism).astype(np.float32)
    return Attribution(list(ids), offsets, np.concatenate(scores).astype(np.float32), deltas, method, "t")


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
    assert site_auroc([np.array([1.0, 3, 2.5, 2])], [[(1, 2), (3, 4)]]) == 0.75


def test_planted_model_learned_its_motif():
    """The committed planted-motif model tells planted from background sequences (its output depends on the
    motif), through dnallm's public path."""
    from dnallm import DNAInference

    test = planted_task(n=300, seed=5)
    prob = DNAInference(PLANTED).predict(test.records)["planted"].to_numpy()
    # a scan with the planted matrix itself, at its best threshold, is right on about 0.87 of such sequences
    # (random 100 bp often hold a near-site); the model reaches about 0.74
    assert ((prob > 0.5) == test.labels).mean() > 0.65
    assert prob[test.labels == 1].mean() - prob[test.labels == 0].mean() > 0.2


def test_tfmodisco_and_tomtom_recover_a_motif_from_known_contributions():
    """Contributions known by construction (1 on each planted site's bases, small noise elsewhere) of ~250 planted
    sequences: TF-MoDISco's top pattern is the octamer, Tomtom matches it to the planted JASPAR motif
    (q <= 0.05), and it is enriched over ~250 unplanted sequences. (From a model's own scores it takes about 2,000
    positives: benchmarks/attribution_methods.py.)"""
    from dnallm.modisco import discover_from_contributions

    task = planted_task(n=500, seed=4)
    rng = np.random.default_rng(0)
    positives, tracks = [], []
    for (rid, seq), site in zip(task.records, task.sites):
        if site is not None:
            track = rng.normal(0, 0.05, len(seq))
            track[site[0] : site[1]] = 1.0
            positives.append(Record(rid, seq))
            tracks.append(track)
    att = _attribution(tracks, ids=[r.id for r in positives])
    result = discover_from_contributions(positives, att, [Record(i, s) for i, s in task.split(0)])
    assert result.settings["discovery"] == "tfmodisco" and result.motifs, result.candidates
    top = result.motifs[0]
    assert "ATGCAAA" in top.consensus or "TTTGCAT" in top.consensus, top.consensus  # the octamer core, either strand
    hit = [m for m in top.matches if m.id == MOTIF_ID]
    assert hit and hit[0].qvalue <= 0.05, [(m.id, m.name, m.qvalue) for m in top.matches]
    assert top.positives_with > 2 * top.background_with and top.qvalue < 1e-6
    assert len(top.instances) >= 20 and {s[3] for s in top.instances} <= {"+", "-"}
    table = result.table()
    assert table.loc[0, "rank"] == 1 and table.loc[0, "qvalue"] == top.qvalue


def test_cli_motifs_with_gradient_scores_runs_tfmodisco(tmp_path, capsys):
    """The model path end to end on 300 planted sequences (too few for a pattern from this model's gradients):
    TF-MoDISco ran on the gradient scores, and the tables are written with their headers either way."""
    task = planted_task(n=600, seed=4)
    pos = write_fasta(tmp_path / "pos.fa", task.split(1))
    neg = write_fasta(tmp_path / "neg.fa", task.split(0))
    out = tmp_path / "motifs"
    code, _, err = run_main(["motifs", str(pos), "--background", str(neg), "-m", str(PLANTED),
                             "--scores", "gradient_x_input", "-o", str(out)], capsys)
    assert code == 0, err
    assert "tfmodisco on gradient_x_input scores" in err
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert {"rank", "consensus", "match1_id", "match1_qvalue"} <= set(table.columns)
    candidates = pd.read_csv(out / "candidates.tsv", sep="\t")
    assert {"pattern", "consensus", "seqlets", "pvalue", "qvalue"} <= set(candidates.columns)


def test_nothing_passes_says_why_and_writes_headed_tables(tmp_path, capsys):
    # background = the positives themselves: no motif can be enriched
    task = planted_task(n=60, seed=6)
    pos = write_fasta(tmp_path / "pos.fa", task.split(1))
    out = tmp_path / "motifs"
    code, _, err = run_main(["motifs", str(pos), "--background", str(pos), "-m", str(PLANTED),
                             "--scores", "attention", "-o", str(out)], capsys)
    assert code == 0, err
    assert "no motif passed" in err and "try" in err
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert len(table) == 0 and {"rank", "consensus", "qvalue", "match1_id", "match1_qvalue"} <= set(table.columns)


def test_missing_modisco_names_the_extra(tmp_path, monkeypatch, capsys):
    task = planted_task(n=40, seed=7)
    pos = write_fasta(tmp_path / "pos.fa", task.split(1))
    neg = write_fasta(tmp_path / "neg.fa", task.split(0))
    monkeypatch.setitem(sys.modules, "modiscolite", None)
    monkeypatch.setitem(sys.modules, "modiscolite.tfmodisco", None)
    code, _, err = run_main(["motifs", str(pos), "--background", str(neg), "-m", str(PLANTED),
                             "--scores", "gradient_x_input", "-o", str(tmp_path / "m")], capsys)
    assert code == 2 and "pip install 'dnallm[motifs]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_attention_scores_take_no_target_and_layer_is_checked(tmp_path, capsys, data_dir):
    args = ["motifs", str(data_dir / "oct4_test.fa"), "--background", str(data_dir / "mafk_test.fa"),
            "-o", str(tmp_path / "m")]
    code, _, err = run_main(args + ["--scores", "attention", "--target", "Oct4"], capsys)
    assert code == 2 and "--scores attention has none" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_main(args + ["--layer", "last"], capsys)
    assert code == 2 and "--layer takes a layer number" in err
    assert not (tmp_path / "m").exists()
