"""Motif discovery: a planted motif is recovered (and matched by Tomtom), JASPAR is read, the demo model's
attention finds the Oct4 and MAF motifs in real peaks, and `dnallm motifs` writes what it promises."""

from __future__ import annotations

import numpy as np
import pytest

from dnallm import DNAInference, Record, read_fasta
from dnallm.motifs import (
    PFM,
    discover_motifs,
    high_attention_regions,
    read_jaspar,
    reverse_complement,
    similarity,
    write_meme,
)

PLANTED = np.array([  # a 10 bp motif, rows A C G T: TGACGTCAGA with some freedom at three positions
    [0.05, 0.05, 0.05, 0.85], [0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05], [0.05, 0.85, 0.05, 0.05],
    [0.05, 0.05, 0.85, 0.05], [0.05, 0.05, 0.10, 0.80], [0.05, 0.80, 0.05, 0.10], [0.60, 0.10, 0.20, 0.10],
    [0.05, 0.05, 0.85, 0.05], [0.60, 0.20, 0.10, 0.10],
])


def planted_data(seed: int = 0, n: int = 300, length: int = 150, share: float = 0.7):
    """Random sequences; in `share` of the positives one motif instance drawn from PLANTED, either strand, at a
    random place; per-bp scores like attention: small everywhere (0.002-0.004), 0.05 more over each planted
    instance."""
    rng = np.random.default_rng(seed)

    def random_seq() -> str:
        return "".join(rng.choice(list("ACGT"), length))

    positives, scores, sites = [], [], []
    for i in range(n):
        seq = random_seq()
        score = 0.002 * (1 + rng.random(length))
        if rng.random() < share:
            site = "".join("ACGT"[rng.choice(4, p=row)] for row in PLANTED)
            if rng.random() < 0.5:
                site = reverse_complement(site)
            start = int(rng.integers(0, length - len(site)))
            seq = seq[:start] + site + seq[start + len(site) :]
            score[start : start + len(site)] += 0.05
            sites.append((f"pos{i}", start))
        positives.append(Record(f"pos{i}", seq))
        scores.append(score)
    background = [Record(f"bg{i}", random_seq()) for i in range(n)]
    return positives, scores, background, sites


def test_planted_motif_is_recovered():
    positives, scores, background, sites = planted_data()
    truth = PFM("planted", "planted", PLANTED * 100)
    database = [truth] + read_jaspar()[:200]
    result = discover_motifs(positives, scores, background, database=database)
    assert result.motifs, result.candidates.head()
    top = result.motifs[0]
    score, offset, strand = similarity(top.pfm.probabilities(), PLANTED)
    print(f"\nplanted motif: top motif {top.consensus} ({len(top.instances)} sites), similarity to the planted "
          f"PWM {score:.3f} (strand {strand}, offset {offset}); q of its seed {top.qvalue:.1e}")
    assert score >= 0.8
    best = top.matches[0]
    print(f"Tomtom: best match {best.id} p {best.pvalue:.1e} q {best.qvalue:.1e}")
    assert best.id == "planted" and best.rank == 1 and best.qvalue <= 0.05
    assert best.evalue == pytest.approx(best.pvalue * len(database))
    # its sites are the planted ones: each planted instance overlaps a reported site
    found = {(rec, start) for rec, start, _, _ in top.instances}
    hits = sum(any(rec == r and abs(start - s) <= 6 for r, s in found) for rec, start in sites)
    assert hits / len(sites) >= 0.8


def test_nothing_is_found_without_a_motif():
    positives, scores, background, _ = planted_data(seed=1, share=0.0)
    result = discover_motifs(positives, scores, background, database=[])
    assert result.motifs == [] and (result.candidates.qvalue > 0.05).all()


def test_high_attention_regions():
    scores = np.ones(40)
    scores[5:12] = 20  # 7 bases above mean and above 10 x min
    scores[20:23] = 30  # too short
    scores[28:40] = np.linspace(15, 40, 12)
    assert high_attention_regions(scores, min_len=5) == [(5, 12), (28, 40)]
    assert high_attention_regions(scores, min_len=5, max_len=6) == [(5, 11), (34, 40)]
    assert high_attention_regions(scores, min_len=5, min_ratio=25) == [(33, 40)]  # above 25 x min only


def test_jaspar_reading_and_similarity(tmp_path):
    motifs = read_jaspar()
    assert len(motifs) == 838
    by_id = {m.id: m for m in motifs}
    pou = by_id["MA1115.1"]
    assert pou.name == "POU5F1" and pou.width == 11 and pou.consensus == "NNATGCAAANN"
    assert by_id["MA0496.3"].name == "MAFK"
    # the bracket layout of JASPAR's own .jaspar files
    (tmp_path / "m.jaspar").write_text(">MA9999.1 TEST\nA [ 10 0 0 ]\nC [ 0 10 0 ]\nG [ 0 0 10 ]\nT [ 0 0 0 ]\n")
    (test,) = read_jaspar(tmp_path / "m.jaspar")
    assert (test.id, test.name, test.consensus) == ("MA9999.1", "TEST", "ACG")

    assert similarity(pou.probabilities(), pou.probabilities())[0] == pytest.approx(1.0)
    score, _, strand = similarity(pou.reverse_complement().probabilities(), pou.probabilities())
    assert score == pytest.approx(1.0) and strand == "-"
    # the duplicate check: a noisy copy is closer to its source than to an unrelated motif
    rng = np.random.default_rng(0)
    noisy = PFM("q", "q", pou.counts / pou.counts.sum(1, keepdims=True) * 50 + rng.random((11, 4)) * 5)
    assert similarity(noisy.probabilities(), pou.probabilities())[0] > 0.9
    assert similarity(noisy.probabilities(), by_id["MA0496.3"].probabilities())[0] < 0.5


def test_meme_export(tmp_path):
    positives, scores, background, _ = planted_data()
    result = discover_motifs(positives, scores, background, database=[])
    write_meme(result.motifs, tmp_path / "m.meme")
    text = (tmp_path / "m.meme").read_text().splitlines()
    assert text[0] == "MEME version 4" and "ALPHABET= ACGT" in text
    start = text.index(next(line for line in text if line.startswith("letter-probability matrix")))
    width = int(text[start].split("w= ")[1].split()[0])
    rows = np.array([[float(v) for v in line.split()] for line in text[start + 1 : start + 1 + width]])
    assert rows.shape == (width, 4) and np.allclose(rows.sum(1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def peaks(data_dir):
    return {name: list(read_fasta(data_dir / f"{name}_train.fa.gz")) for name in ("oct4", "mafk")}


@pytest.mark.parametrize("positive, negative, expected", [
    ("oct4", "mafk", {"MA1115.1", "MA0142.1"}),  # POU5F1, Pou5f1::Sox2
    ("mafk", "oct4", {"MA0496.3", "MA1520.1", "MA1521.1", "MA0495.3", "MA0117.2", "MA0659.3"}),  # MAF family
])
def test_demo_model_attention_finds_the_factors_motifs(peaks, positive, negative, expected):
    """The 7,797 real training peaks, the embedded model's last-layer attention."""
    result = DNAInference().find_motifs(peaks[positive], peaks[negative])
    table = result.table()
    columns = ["rank", "consensus", "instances", "qvalue", "match1_name", "match1_qvalue", "match2_name",
               "match3_name"]
    print(f"\n{positive} vs {negative}:\n" + table[columns].head(3).to_string(index=False))
    top3 = [m for motif in result.motifs[:3] for m in motif.matches[:3]]
    assert expected & {m.id for m in top3 if m.qvalue <= 0.05}


def test_motifs_command(tmp_path, data_dir, monkeypatch, capsys):
    """In-process `dnallm motifs` on the 100 + 100 test peaks: Mafk against Oct4 (enough for the MAF motif)."""
    from dnallm.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["motifs", str(data_dir / "mafk_test.fa"), "--background", str(data_dir / "oct4_test.fa"),
                 "-o", "out", "-q"])
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"motifs.tsv", "candidates.tsv", "motifs.meme", "pfm", "logos.png"}
    import pandas as pd

    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    names = table[["match1_name", "match2_name", "match3_name"]].iloc[0].astype(str)
    assert "MAF" in " ".join(names).upper()
    assert 0 < table.match1_qvalue.iloc[0] <= table.match3_qvalue.iloc[0] <= 1
    pfms = sorted((out / "pfm").iterdir())
    assert len(pfms) == len(table) and read_jaspar(pfms[0])[0].width == table.width.iloc[0]
    assert (out / "logos.png").read_bytes().startswith(b"\x89PNG")
