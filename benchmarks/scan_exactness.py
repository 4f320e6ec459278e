"""Coverage and exactness of `dnallm scan` on the C. diphtheriae genome in the repo, with the demo model.

    python benchmarks/scan_exactness.py [--sample 200]

Tiles (window 200, step 100): the window count against the documented rule written out here, every base covered,
randomly chosen windows against a direct transformers forward (the demo model's own Hugging Face tokenizer and a
plain forward, no dnallm code) on the bases each row names, and the bigWig read back with pyBigWig: its chromosome
size and every base's value against the mean of the windows covering it (summed base by base here).

Regions: the 2,343 genes of examples/data/c_diphtheriae_genes.bed (both strands) plus one interval past the contig's
end and one on a contig the genome lacks: rows, the reasons listed, and the strand - rows against `dnallm predict`
on the reverse complements (cut and reverse-complemented here).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyBigWig  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()

GENOME = REPO / "examples" / "data" / "c_diphtheriae_NCTC11397.fna.gz"
GENES = REPO / "examples" / "data" / "c_diphtheriae_genes.bed"
DEMO = REPO / "dnallm" / "models" / "demo-oct4-mafk"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def dnallm(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dnallm", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return done.stderr.strip().splitlines()[-1]


def read_genome() -> tuple[str, str]:
    with gzip.open(GENOME, "rt") as fh:
        header, *lines = fh.read().split("\n")
    return header[1:].split()[0], "".join(lines).upper()


def documented_starts(length: int, window: int, step: int) -> list[int]:
    starts = list(range(0, length - window + 1, step))
    return starts + ([length - window] if starts[-1] + window < length else [])


def direct(seqs: list[str]) -> np.ndarray:
    tokenizer = AutoTokenizer.from_pretrained(DEMO)
    model = AutoModelForSequenceClassification.from_pretrained(DEMO).eval()
    out = []
    for seq in seqs:
        text = " ".join(seq[i : i + 6] for i in range(len(seq) - 5))
        with torch.inference_mode():
            out.append(model(**tokenizer(text, return_tensors="pt")).logits.double().softmax(-1)[0].numpy())
    return np.array(out)


def tiles(tmp: Path, sample: int) -> None:
    chrom, seq = read_genome()
    table, track = tmp / "tiles.tsv", tmp / "scan.bw"
    print(dnallm("scan", str(GENOME), "--window", "200", "--step", "100", "-o", str(table)))
    print(dnallm("scan", str(GENOME), "--window", "200", "--step", "100", "-o", str(track)))
    df = pd.read_csv(table, sep="\t")
    want = documented_starts(len(seq), 200, 100)
    covered = np.zeros(len(seq), np.int64)
    for start, end in zip(df["start"], df["end"]):
        covered[start:end] += 1
    print(f"\ngenome {chrom}, {len(seq):,} bp; windows {len(df):,} (the rule written out: {len(want):,}; starts "
          f"equal: {list(df['start']) == want}); bases covered {int((covered > 0).sum()):,} of {len(seq):,} "
          f"(by 1 window: {int((covered == 1).sum()):,}, by 2: {int((covered == 2).sum()):,}, by 3: "
          f"{int((covered == 3).sum()):,})")
    picked = sorted(random.Random(0).sample(range(len(df)), sample)) + [len(df) - 1]
    got = df.loc[picked, ["Mafk", "Oct4"]].to_numpy()
    diff = np.abs(got - direct([seq[df["start"][i] : df["end"][i]] for i in picked])).max()
    print(f"{len(picked)} windows ({sample} at random and the last, moved one) vs a direct transformers forward: "
          f"max |diff| {diff:.1e}")
    total, count = np.zeros(len(seq)), np.zeros(len(seq))
    for label in ("Mafk", "Oct4"):
        bw = pyBigWig.open(str(tmp / f"scan.{label}.bw"))
        total[:], count[:] = 0, 0
        for start, end, value in zip(df["start"], df["end"], df[label]):
            total[start:end] += value
            count[start:end] += 1
        values = np.array(bw.values(chrom, 0, len(seq)))
        print(f"scan.{label}.bw: chroms {bw.chroms()}, {len(bw.intervals(chrom)):,} entries; every base vs the mean "
              f"of its covering windows: max |diff| {np.abs(values - total / count).max():.1e}")
        bw.close()


def regions(tmp: Path) -> None:
    chrom, seq = read_genome()
    bed = tmp / "genes.bed"
    bed.write_text(GENES.read_text() + f"{chrom}\t2463500\t2463900\tpast_end\t0\t+\nchr9\t100\t300\tmissing\t0\t-\n")
    out = tmp / "genes.tsv"
    print("\n" + dnallm("scan", str(GENOME), "--regions", str(bed), "-o", str(out)))
    df = pd.read_csv(out, sep="\t")
    skipped = pd.read_csv(f"{out}.skipped.tsv", sep="\t")
    print(f"regions: {len(bed.read_text().splitlines()):,} BED lines -> {len(df):,} rows "
          f"({(df['strand'] == '+').sum():,} +, {(df['strand'] == '-').sum():,} -), {len(skipped)} not scored:")
    for row in skipped.itertuples():
        print(f"  {row.id} ({Path(row.where).name}): {row.reason}")
    minus = df[df["strand"] == "-"]
    fasta = tmp / "minus.fa"
    with open(fasta, "w") as fh:
        for name, start, end in zip(minus["name"], minus["start"], minus["end"]):
            fh.write(f">{name}\n{seq[start:end].translate(COMPLEMENT)[::-1]}\n")
    print(dnallm("predict", str(fasta), "-o", str(tmp / "minus_pred.tsv")))
    pred = pd.read_csv(tmp / "minus_pred.tsv", sep="\t")
    diff = np.abs(pred[["Mafk", "Oct4"]].to_numpy() - minus[["Mafk", "Oct4"]].to_numpy()).max()
    print(f"strand - rows vs `dnallm predict` on their reverse complements: {len(minus):,} rows, max |diff| "
          f"{diff:.1e} (ids equal: {list(pred['id']) == list(minus['name'])}; model inputs per gene "
          f"{pred['n_windows'].min()}-{pred['n_windows'].max()}, averaged as predict averages them)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=200, help="random windows compared with a direct forward")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tiles(Path(tmp), args.sample)
        regions(Path(tmp))


if __name__ == "__main__":
    main()
