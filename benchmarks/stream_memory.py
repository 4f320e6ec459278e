"""Memory of a long `dnallm predict` run: 1,000,000 records of 200 bp streamed to Parquet.

    python benchmarks/stream_memory.py [--records 1000000]

The FASTA file is generated first (200 bp windows at seeded random places of the C. diphtheriae chromosome, ids
w0, w1, ...). The run is `dnallm predict big.fa -o out.parquet`'s own code (DNAInference.iter_predict and the
Parquet writer) with the tiny DNABERT-style test model (256 positions: one window per record); after every chunk
of results the process's resident set size (VmRSS) is read from /proc. Printed: RSS against records done, and the
growth between 100,000 records and the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent

import numpy as np  # noqa: E402

import dnallm  # noqa: E402
from dnallm import testing  # noqa: E402
from dnallm.io.writers import ResultWriter, read_results  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def write_fasta(path: Path, n: int, length: int = 200, seed: int = 0) -> None:
    (genome,) = dnallm.read_fasta(REPO / "examples" / "data" / "c_diphtheriae_NCTC11397.fna.gz")
    starts = np.random.default_rng(seed).integers(0, len(genome.seq) - length, n)
    with open(path, "w") as out:
        for block in range(0, n, 100_000):
            out.write("".join(f">w{i}\n{genome.seq[s : s + length]}\n"
                              for i, s in zip(range(block, min(n, block + 100_000)), starts[block:block + 100_000])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fasta = tmp / "big.fa"
        write_fasta(fasta, args.records)
        inf = dnallm.DNAInference(testing.build_dnabert(tmp / "model", max_tokens=256))
        out = tmp / "out.parquet"
        samples = [(0, rss_mb())]
        start = time.perf_counter()
        done = 0
        with ResultWriter(out) as writer:
            for frame in inf.iter_predict(str(fasta)):
                writer.write(frame)
                done += len(frame)
                samples.append((done, rss_mb()))
        seconds = time.perf_counter() - start
        result = read_results(out)
        assert len(result) == args.records and result["id"].iloc[-1] == f"w{args.records - 1}"
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"{args.records:,} records of 200 bp -> {out.name} ({out.stat().st_size / 2**20:,.0f} MB) in "
              f"{seconds / 60:.1f} min, {args.records / seconds:,.0f} records/s; "
              f"FASTA {fasta.stat().st_size / 2**20:,.0f} MB\n")
        print("| records done | RSS (MB) |")
        print("|---:|---:|")
        marks = [0, 10_000, 100_000, 250_000, 500_000, 750_000, args.records]
        for mark in marks:
            if mark > args.records:
                continue
            done_at, rss = next(s for s in samples if s[0] >= mark)
            print(f"| {done_at:,} | {rss:,.0f} |")
        at_100k = next(r for d, r in samples if d >= min(100_000, args.records))
        peak = max(r for _, r in samples)
        print(f"\nRSS growth from 100,000 records to the end: {samples[-1][1] - at_100k:+,.0f} MB "
              f"(peak {peak:,.0f} MB)")


if __name__ == "__main__":
    main()
