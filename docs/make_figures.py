"""Draw the attention figures of the README and docs/attention.md, and print the figures quoted with them.

    python docs/make_figures.py

1. docs/attention_oct4_peak.png: the embedded demo model on an Oct4 test peak that holds the octamer ATGCAAAT
   (either strand), octamer occurrences outlined: of the peaks that hold it, the one with the median
   inside/outside ratio in layer 0 (a typical peak, not the best one). Printed: the inside/outside ratio of the
   per-bp attention track over all those peaks, per layer, and per peak.
2. docs/attention_bigbird_long.png: a binned heatmap of a 4,094 bp phage lambda window through a block-sparse
   character BigBird with GENA-LM BigBird's attention layout (4,096 positions, block 64, 3 random blocks) and
   random weights: it shows where block-sparse attention can look, not what a trained model learned.
3. docs/motif_logos.png: the top three motifs the demo model's attention finds in the 3,897 Oct4 training peaks
   (against the Mafk peaks) and in the 3,900 Mafk peaks (against the Oct4 peaks), with their best JASPAR matches
   (Tomtom q-values); the tables are printed.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402

import dnallm  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
DATA = REPO / "examples" / "data"
OCTAMER = "(?=(ATGCAAAT|ATTTGCAT))"


def octamer_spans(seq: str) -> list[tuple[int, int]]:
    return [(m.start(), m.start() + 8) for m in re.finditer(OCTAMER, seq)]


def oct4_figure() -> None:
    inf = dnallm.DNAInference()
    peaks = [r for r in dnallm.read_fasta(DATA / "oct4_test.fa") if octamer_spans(r.seq)]
    inside: dict[int, list[float]] = {}
    outside: dict[int, list[float]] = {}
    per_peak = []
    for peak in peaks:
        amap = inf.attentions(peak, layers="all", heads="mean")
        mask = np.zeros(len(peak), dtype=bool)
        for start, end in octamer_spans(peak.seq):
            mask[start:end] = True
        for layer, track in zip(amap.layers, amap.track):
            inside.setdefault(layer, []).extend(track[mask])
            outside.setdefault(layer, []).extend(track[~mask])
        per_peak.append(amap.track[0][mask].mean() / amap.track[0][~mask].mean())
    print(f"Oct4 test peaks with the octamer: {len(peaks)} of 100")
    for layer in inside:
        ratio = np.mean(inside[layer]) / np.mean(outside[layer])
        print(f"  layer {layer}: per-bp attention from [CLS], inside / outside the octamer = {ratio:.2f}")
    print("  layer 0, per peak: " + ", ".join(f"{p.id} {r:.2f}" for p, r in zip(peaks, per_peak)))
    peak = peaks[int(np.argsort(per_peak)[len(per_peak) // 2])]
    fig = inf.plot_attentions(peak, layer=0, highlight=octamer_spans(peak.seq), panel_size=4.6)
    fig.savefig(DOCS / "attention_oct4_peak.png", dpi=100)
    print(f"docs/attention_oct4_peak.png: {peak.id}, octamer at {octamer_spans(peak.seq)}")


def bigbird_figure() -> None:
    from dnallm import testing

    with tempfile.TemporaryDirectory() as tmp:
        path = testing.build_bigbird(Path(tmp) / "bigbird", max_tokens=4096, block_size=64, random_blocks=3)
        inf = dnallm.DNAInference(path)
        (lam,) = dnallm.read_fasta(DATA / "lambda_phage.fa.gz")
        from dnallm.plotting import plot_attention

        amap = inf.attentions(lam, layers=0, heads="mean", region=(10_000, 14_094), max_bins=512)
        fig = plot_attention(amap, max_bins=512, panel_size=4.6,
                             title=f"phage lambda bp {amap.start:,}-{amap.end:,} ({len(amap.input_ids):,} tokens), "
                                   f"char BigBird with random weights: layer 0, mean of heads, bins of "
                                   f"{amap.bin_size} bp, {amap.attention_type.replace('_', '-')}")
        fig.savefig(DOCS / "attention_bigbird_long.png", dpi=100)
        print(f"docs/attention_bigbird_long.png: {len(amap.input_ids)} tokens, attention {amap.attention_type}, "
              f"bins of {amap.bin_size} bp")


def motif_figure() -> None:
    from dnallm.motifs import plot_logos

    inf = dnallm.DNAInference()
    oct4 = list(dnallm.read_fasta(DATA / "oct4_train.fa.gz"))
    mafk = list(dnallm.read_fasta(DATA / "mafk_train.fa.gz"))
    found = []
    for name, positives, background in (("Oct4", oct4, mafk), ("Mafk", mafk, oct4)):
        result = inf.find_motifs(positives, background)
        columns = ["rank", "consensus", "instances", "positives_with", "background_with", "qvalue",
                   "match1_id", "match1_name", "match1_qvalue", "match2_name", "match2_qvalue", "match3_name",
                   "match3_qvalue"]
        print(f"{name} peaks vs the other factor's:\n{result.table()[columns].head(3).to_string(index=False)}")
        for motif in result.motifs[:3]:
            motif.pfm = type(motif.pfm)(f"{name} {motif.pfm.id.rsplit('_', 1)[-1]}", motif.pfm.name, motif.pfm.counts)
            found.append(motif)
    fig = plot_logos(found, columns=2)
    fig.savefig(DOCS / "motif_logos.png", dpi=90)
    print("docs/motif_logos.png")


def attribution_figure() -> None:
    """docs/attribution_oct4_peak.png: ISM of the demo model's Oct4 log-odds on the Oct4 test peaks that hold the
    octamer; of those whose highest per-bp score lies on an octamer, the one where the octamer stands out most
    (mean score on it over the mean |score| of the peak), zoomed to 60 bp around its octamer."""
    from dnallm.plotting import plot_attribution

    inf = dnallm.DNAInference()
    peaks = [r for r in dnallm.read_fasta(DATA / "oct4_test.fa") if octamer_spans(r.seq)]
    att = inf.attribute(peaks, method="ism")
    chosen = []
    for i, peak in enumerate(peaks):
        scores, top = att.scores_of(i), int(np.argmax(att.scores_of(i)))
        for start, end in octamer_spans(peak.seq):
            if start <= top < end:
                chosen.append((scores[start:end].mean() / np.abs(scores).mean(), i, start))
        print(f"  {peak.id}: octamer at {octamer_spans(peak.seq)}, highest score at bp {top}")
    _, i, start = max(chosen)
    peak = peaks[i]
    lo = min(max(start + 4 - 30, 0), len(peak) - 60)
    fig = plot_attribution(peak, att, peak.id, region=(lo, lo + 60), highlight=octamer_spans(peak.seq))
    fig.savefig(DOCS / "attribution_oct4_peak.png", dpi=110)
    print(f"docs/attribution_oct4_peak.png: {peak.id}, octamer {peak.seq[start:start + 8]} at bp {start}-{start + 8}, "
          f"bp {lo}-{lo + 60} shown; {len(chosen)} of {len(peaks)} octamer peaks score highest on an octamer")


if __name__ == "__main__":
    oct4_figure()
    bigbird_figure()
    motif_figure()
    attribution_figure()
