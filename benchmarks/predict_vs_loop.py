"""`dnallm predict` against the plain transformers loop a user would write, on the same model and windows.

    python benchmarks/predict_vs_loop.py [--records 2000] [--repeats 3]

Data: real genome windows of 200-500 bp cut at seeded random places from the C. diphtheriae chromosome in
examples/data (all fit one DNABERT input, so both sides run exactly the same tokens). Model: the tiny DNABERT-style
6-mer classifier of the tests (BERT, 2 layers, hidden 32), with 512 positions.

Timed, after the model is loaded, from the FASTA file to the written TSV:
  loop:   Biopython reads the FASTA, k-merizes each sequence in Python, the model's tokenizer pads each batch of 32
          to its longest member, BERT runs with sdpa under torch.inference_mode, softmax, pandas writes the TSV.
  dnallm: DNAInference.iter_predict + the TSV writer, as `dnallm predict seqs.fa -o out.tsv` runs them.
Both give the same probabilities (the max difference is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tiny_models  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import dnallm  # noqa: E402
from dnallm.io.writers import ResultWriter  # noqa: E402


def genome_windows(n: int, low: int, high: int, seed: int = 0) -> list[tuple[str, str]]:
    (genome,) = dnallm.read_fasta(REPO / "examples" / "data" / "c_diphtheriae_NCTC11397.fna.gz")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(low, high)
        start = rng.randrange(len(genome.seq) - length)
        out.append((f"NZ_LN831026.1:{start}-{start + length}", genome.seq[start : start + length]))
    return out


def plain_loop(model_dir: Path, fasta: Path, out: Path, batch_size: int = 32) -> pd.DataFrame:
    """What a user writes with transformers alone (model and tokenizer loaded outside the timing)."""
    from Bio import SeqIO

    tokenizer, model = plain_loop.cache
    rows = []
    records = [(r.id, str(r.seq).upper()) for r in SeqIO.parse(str(fasta), "fasta")]
    with torch.inference_mode():
        for i in range(0, len(records), batch_size):
            batch = records[i : i + batch_size]
            texts = [" ".join(seq[j : j + 6] for j in range(len(seq) - 5)) for _, seq in batch]
            enc = tokenizer(texts, padding="longest", return_tensors="pt")
            probs = model(**enc).logits.softmax(-1).numpy()
            rows.extend((rid, len(seq), *p) for (rid, seq), p in zip(batch, probs))
    frame = pd.DataFrame(rows, columns=["id", "length", "Mafk", "Oct4"])
    frame.to_csv(out, sep="\t", index=False)
    return frame


def with_dnallm(inf: dnallm.DNAInference, fasta: Path, out: Path) -> pd.DataFrame:
    with ResultWriter(out) as writer:
        for frame in inf.iter_predict(str(fasta)):
            writer.write(frame)
    return pd.read_csv(out, sep="\t")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = tiny_models.build_dnabert(tmp / "model", max_tokens=512)
        fasta = tmp / "windows.fa"
        windows = genome_windows(args.records, 200, 500)
        fasta.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in windows))
        auto_model = transformers.AutoModelForSequenceClassification
        plain_loop.cache = (
            transformers.AutoTokenizer.from_pretrained(model_dir),
            auto_model.from_pretrained(model_dir, attn_implementation="sdpa").eval(),
        )
        inf = dnallm.DNAInference(model_dir)
        times = {"loop": [], "dnallm": []}
        for _ in range(args.repeats):
            for name, run in (("loop", lambda: plain_loop(model_dir, fasta, tmp / "loop.tsv")),
                              ("dnallm", lambda: with_dnallm(inf, fasta, tmp / "dnallm.tsv"))):
                start = time.perf_counter()
                frame = run()
                times[name].append(time.perf_counter() - start)
                assert len(frame) == args.records
        loop = pd.read_csv(tmp / "loop.tsv", sep="\t")
        ours = pd.read_csv(tmp / "dnallm.tsv", sep="\t")
        diff = np.abs(loop[["Mafk", "Oct4"]].to_numpy() - ours[["Mafk", "Oct4"]].to_numpy()).max()
        bp = sum(len(s) for _, s in windows)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
              f"({torch.get_num_threads()} threads), transformers {transformers.__version__}")
        print(f"data: {args.records} C. diphtheriae windows, 200-500 bp, {bp:,} bp; model: tiny BERT 6-mer "
              f"classifier, attention {inf.attn_implementation}; medians of {args.repeats}\n")
        print("| pipeline | seconds | records/s | vs loop |")
        print("|---|---:|---:|---:|")
        base = statistics.median(times["loop"])
        for name in ("loop", "dnallm"):
            t = statistics.median(times[name])
            print(f"| {name} | {t:.3f} | {args.records / t:,.0f} | {base / t:.2f}x |")
        print(f"\nmax |p_loop - p_dnallm| = {diff:.2e}; dnallm padding {inf.last_run.padding_fraction:.1%}, "
              f"{inf.last_run.batches} batches")


if __name__ == "__main__":
    main()
