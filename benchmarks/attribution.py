"""Mutants/s of ISM (`DNAInference.attribute(method="ism")`) against rows/s of `DNAInference.predict` on the same
number of sequences of the same length, on the same model.

    python benchmarks/attribution.py                      # 20 records of 200 bp: 12,000 mutants
    python benchmarks/attribution.py --records 40 --repeats 3

The records are real genome windows (seeded random places of the C. diphtheriae chromosome in examples/data).
ISM runs every single-base mutant of each record (3 per bp, plus one reference per record) through the shared
runner; predict runs the same 12,000 mutant sequences as records. The model is the tests' DNABERT-style tiny BERT
(dnallm.testing.build_dnabert: 2 layers, hidden 32, overlapping 6-mers) with 256 positions, so a 200 bp sequence
is one window in both. The two are timed alternately, after the model is loaded; each figure is the best of
``--repeats``. The issue asks for ISM at >= 0.9 of predict's throughput.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

from dnallm import DNAInference, testing  # noqa: E402
from dnallm.attribution import BASES  # noqa: E402


def mutants_of(records: list[tuple[str, str]]) -> list[str]:
    """Every single-base mutant of every record (3 per bp)."""
    return [seq[:i] + b + seq[i + 1 :] for _, seq in records for i in range(len(seq)) for b in BASES if b != seq[i]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--length", type=int, default=200, help="bp per record")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = testing.build_dnabert(Path(tmp) / "tiny-bert", max_tokens=256)
        inf = DNAInference(path, device=args.device)
        records = testing.genome_windows(args.records, args.length, args.length, seed=0)
        mutants = mutants_of(records)
        inf.attribute(records[:1])  # warm up
        inf.predict(mutants[:200])
        ism_s, predict_s = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = inf.attribute(records)
            ism_s.append(time.perf_counter() - start)
            ism_run = inf.last_run
            start = time.perf_counter()
            frame = inf.predict(mutants)
            predict_s.append(time.perf_counter() - start)
            predict_run = inf.last_run
    assert result.ism.shape == (args.records * args.length, 4) and len(frame) == len(mutants)
    ism_rate, predict_rate = len(mutants) / min(ism_s), len(mutants) / min(predict_s)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"{args.records} records x {args.length} bp = {len(mutants):,} mutants")
    print(f"ism:     {len(mutants):,} mutants (+{args.records} references) in {min(ism_s):.2f} s = "
          f"{ism_rate:,.0f} mutants/s ({ism_run.batches} batches, {ism_run.padding_fraction:.1%} padding)")
    print(f"predict: {len(mutants):,} rows in {min(predict_s):.2f} s = {predict_rate:,.0f} rows/s "
          f"({predict_run.batches} batches, {predict_run.padding_fraction:.1%} padding)")
    print(f"ratio ism/predict: {ism_rate / predict_rate:.2f} (the issue asks >= 0.9)")


if __name__ == "__main__":
    main()
