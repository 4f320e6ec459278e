"""Draw docs/scan_oct4_mosaic.png and print the figures quoted with it in docs/scan.md.

    python docs/scan_figure.py

A 20 kb contig built from 100 held-out ChIP-seq peaks (50 Oct4 peaks of examples/data/oct4_test.fa and 50 Mafk
peaks of mafk_test.fa, 200 bp each, picked and ordered with seed 0): a mosaic of real DNA whose truth is known,
not a stretch of a real genome. `dnallm scan mosaic.fa --window 200 --step S --label Oct4 -o oct4.bw` runs the
demo model along it with S = 200 (every window is one whole peak) and S = 50 (three windows in four straddle two
peaks); both tracks, read back from the bigWigs, are drawn over the peaks, with the stretches where each stays above
0.5 for at least 100 bp ("found") beneath.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyBigWig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "examples" / "data"
OUT = REPO / "docs" / "scan_oct4_mosaic.png"


def read_peaks(path: Path) -> list[str]:
    lines = path.read_text().split()
    return [line.upper() for line in lines if not line.startswith(">")]


def runs_above(values: np.ndarray, cut: float, shortest: int) -> list[tuple[int, int]]:
    above = np.concatenate([[False], values > cut, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= shortest]


def scan(fasta: Path, step: int, out: Path) -> None:
    label = ["--label", "Oct4"] if out.suffix == ".bw" else []
    done = subprocess.run([sys.executable, "-m", "dnallm", "scan", str(fasta), "--window", "200", "--step", str(step),
                           *label, "-o", str(out)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    print(done.stderr.strip().splitlines()[-1].replace(str(out.parent) + "/", ""))


def read_track(path: Path, length: int) -> np.ndarray:
    bw = pyBigWig.open(str(path))
    values = np.array(bw.values("mosaic", 0, length))
    bw.close()
    return values


def overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in spans)


def main() -> None:
    rng = random.Random(0)
    pieces = [("Oct4", s) for s in rng.sample(read_peaks(DATA / "oct4_test.fa"), 50)]
    pieces += [("Mafk", s) for s in rng.sample(read_peaks(DATA / "mafk_test.fa"), 50)]
    rng.shuffle(pieces)
    truth, at = [], 0
    for factor, s in pieces:
        truth.append((at, at + len(s), factor))
        at += len(s)
    seq = "".join(s for _, s in pieces)
    tracks = {}
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "mosaic.fa"
        fasta.write_text(f">mosaic\n{seq}\n")
        for step in (200, 50):
            scan(fasta, step, Path(tmp) / f"oct4_step{step}.bw")
            tracks[step] = read_track(Path(tmp) / f"oct4_step{step}.bw", len(seq))
        scan(fasta, 50, Path(tmp) / "tiles.tsv")
        tiles = np.loadtxt(Path(tmp) / "tiles.tsv", skiprows=1, usecols=(1, 4))
    oct4 = [(a, b) for a, b, f in truth if f == "Oct4"]
    print(f"{len(seq):,} bp mosaic of {len(oct4)} Oct4 and {len(truth) - len(oct4)} Mafk peaks")
    found = {}
    for step, values in tracks.items():
        found[step] = runs_above(values, 0.5, 100)
        per_peak = {f: [values[a:b].mean() for a, b, g in truth if g == f] for f in ("Oct4", "Mafk")}
        on_oct4 = sum(overlaps(f, oct4) for f in found[step])
        print(f"step {step}: {len(found[step])} stretches above 0.5 (>= 100 bp), {on_oct4} of them on an Oct4 peak; "
              f"the track's mean over a peak is > 0.5 on "
              f"{sum(m > 0.5 for m in per_peak['Oct4'])}/50 Oct4 and {sum(m > 0.5 for m in per_peak['Mafk'])}/50 Mafk "
              f"peaks")
    straddle = tiles[tiles[:, 0] % 200 != 0, 1]
    print(f"step 50: {len(straddle)} of {len(tiles)} windows straddle two peaks; the model gives p(Oct4) > 0.5 on "
          f"{(straddle > 0.5).mean():.0%} of them (on {(tiles[tiles[:, 0] % 200 == 0, 1] > 0.5).mean():.0%} of the "
          "windows that are one whole peak)")

    fig, axes = plt.subplots(3, 1, figsize=(12, 4.8), sharex=True, height_ratios=[2, 2, 1.3])
    x = np.arange(len(seq)) / 1000
    colour = {"Oct4": "#f4a259", "Mafk": "#8ecae6"}
    for ax, step in zip(axes, (200, 50)):
        for a, b, factor in truth:
            ax.axvspan(a / 1000, b / 1000, color=colour[factor], alpha=0.35, lw=0)
        ax.plot(x, tracks[step], color="#1d3557", lw=1)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"p(Oct4)\nstep {step}")
    axes[0].set_title("dnallm scan --window 200, demo model, over 100 held-out 200 bp peaks laid end to end: the "
                      "bigWig read back (each base: the mean of its covering windows)", fontsize=9)
    axes[0].legend(handles=[plt.Line2D([], [], color="#1d3557", lw=1, label="p(Oct4) track"),
                            plt.Rectangle((0, 0), 1, 1, color=colour["Oct4"], label="Oct4 peak"),
                            plt.Rectangle((0, 0), 1, 1, color=colour["Mafk"], label="Mafk peak")],
                   loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8, frameon=False)
    bottom = axes[2]
    for a, b, factor in truth:
        bottom.add_patch(plt.Rectangle((a / 1000, 2.1), (b - a) / 1000, 0.8, color=colour[factor]))
    for row, step in ((1.1, 200), (0.1, 50)):
        for a, b in found[step]:
            bottom.add_patch(plt.Rectangle((a / 1000, row), (b - a) / 1000, 0.8, color="black"))
    bottom.set_ylim(0, 3)
    bottom.set_yticks([0.5, 1.5, 2.5], ["found, step 50", "found, step 200", "peaks"])
    bottom.set_xlim(0, len(seq) / 1000)
    bottom.set_xlabel("position on the mosaic contig (kb)")
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"-> {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
