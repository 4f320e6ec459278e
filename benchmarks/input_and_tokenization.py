"""Throughput of FASTA reading and of each tokenizer family, on the real data in examples/data.

    python benchmarks/input_and_tokenization.py [--repeats 5]

Prints a Markdown table: medians over the repeats, one process, one thread (torch is not involved).
The tokenizers are the tiny test models' (dnallm/testing.py): the vocabulary size does not change
the cost of the lookup-table families; BPE speed depends on its merges.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent

import dnallm  # noqa: E402
from dnallm import testing  # noqa: E402

DATA = REPO / "examples" / "data"


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"dnallm {dnallm.__version__}; medians of {args.repeats} runs\n")

    print("| input | records | bp | seconds | Mbp/s |")
    print("|---|---:|---:|---:|---:|")
    files = {
        "C. diphtheriae genome (gzip)": [DATA / "c_diphtheriae_NCTC11397.fna.gz"],
        "7,797 training peaks (gzip)": [DATA / "oct4_train.fa.gz", DATA / "mafk_train.fa.gz"],
    }
    for label, paths in files.items():
        recs = [r for p in paths for r in dnallm.read_fasta(p)]
        bp = sum(len(r) for r in recs)
        t = median_time(lambda: [r for p in paths for r in dnallm.read_fasta(p)], args.repeats)
        print(f"| {label} | {len(recs):,} | {bp:,} | {t:.3f} | {bp / t / 1e6:.1f} |")

    (genome,) = dnallm.read_fasta(DATA / "c_diphtheriae_NCTC11397.fna.gz")
    peaks = [r.seq for p in files["7,797 training peaks (gzip)"] for r in dnallm.read_fasta(p)]
    print("\n| tokenizer family | C. diphtheriae, one 2.46 Mb record: Mbp/s | 7,797 peaks of 200 bp: Mbp/s |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for family, build in testing.BUILDERS.items():
            tok = dnallm.load_tokenizer(build(Path(tmp) / family))
            t_genome = median_time(lambda: tok.tokenize(genome.seq), args.repeats)
            t_peaks = median_time(lambda: [tok.tokenize(s) for s in peaks], args.repeats)
            print(f"| {family} | {len(genome) / t_genome / 1e6:.1f} | {len(peaks) * 200 / t_peaks / 1e6:.1f} |")


if __name__ == "__main__":
    main()
