"""The Ray engine's overhead, and the driver's memory over a million records.

    python benchmarks/ray_throughput.py [--repeats 3] [--records 1000000]    # about 8-12 minutes on 2 cores

1. Throughput: `dnallm predict` of 4,000 windows of 200 bp cut from the C. diphtheriae genome in the repo (demo
   model), each run a fresh process, in turn: the local engine with 1 and 2 torch threads (OMP_NUM_THREADS), and
   `--engine ray --workers 1` and `--workers 2` (`--cpus-per-worker 1`: one thread each, Ray in the CLI's process).
   records/s is the CLI's own figure (records / the run's seconds, from the first record read to the last row
   written; the model load and Ray's start are not in it). Medians over the repeats; the efficiency of n workers
   is their records/s / (n x the local engine's with 1 thread).
2. Driver memory: `dnallm predict --engine ray --workers 2` of ``--records`` records (60-140 bp, random bases) with
   a tiny DNABERT-shaped model (2 layers, hidden 32: the model is not the point, the driver is), to parquet; the
   driver's RSS (this CLI process alone; Ray's workers and object store are other processes) sampled every
   0.25 s, its peak (ru_maxrss) and its RSS at 10%, 50% and 90% of the run, and the same for a tenth of the
   records: the peak does not grow with the input.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENOME = REPO / "examples" / "data" / "c_diphtheriae_NCTC11397.fna.gz"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan import CHILD  # noqa: E402 - the CLI's main() in a child process, its RSS sampled every 0.25 s

ENGINES = {
    "local, 1 thread": ([], 1),
    "local, 2 threads": ([], 2),
    "ray, 1 worker x 1 thread": (["--engine", "ray", "--workers", "1", "--cpus-per-worker", "1"], 2),
    "ray, 2 workers x 1 thread": (["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1"], 2),
}


def run(args: list[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=REPO, env=env)
    if done.returncode:
        raise SystemExit(done.stderr)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    rate = re.search(r"in ([\d.]+) s, ([\d,]+) records/s", done.stderr)
    out["rate"] = float(rate[2].replace(",", "")) if rate else None
    return out


def windows(folder: Path, n: int = 4000, width: int = 200) -> Path:
    with gzip.open(GENOME, "rt") as fh:
        seq = "".join(fh.read().split("\n")[1:]).upper()
    path = folder / "windows.fa"
    with open(path, "w") as fh:
        fh.writelines(f">w{i}\n{seq[i * width:(i + 1) * width]}\n" for i in range(n))
    return path


def throughput(folder: Path, repeats: int) -> dict[str, float]:
    fasta = windows(folder)
    rates: dict[str, list[float]] = {name: [] for name in ENGINES}
    for r in range(repeats):
        for name, (extra, threads) in ENGINES.items():
            out = run(["predict", str(fasta), "-o", str(folder / "out.tsv"), *extra], threads)
            rates[name].append(out["rate"])
            print(f"repeat {r + 1}: {name}: {out['rate']:,.0f} records/s (process {out['seconds']:.1f} s)",
                  file=sys.stderr)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    one = medians["local, 1 thread"]
    print("\n| engine | records/s (median of {}) | runs | vs local 1 thread | efficiency |".format(repeats))
    print("|---|---:|---|---:|---:|")
    for name, median in medians.items():
        n = 2 if "2 " in name else 1
        runs = ", ".join(f"{x:,.0f}" for x in rates[name])
        print(f"| {name} | {median:,.0f} | {runs} | {median / one:.2f} | {median / (n * one):.2f} |")
    return medians


def driver_memory(folder: Path, n: int) -> None:
    from dnallm.testing import build_dnabert

    model = build_dnabert(folder / "tiny", k=6, max_tokens=160)
    rng = random.Random(0)
    print("\ndriver RSS, `dnallm predict --engine ray --workers 2` to parquet, tiny DNABERT-shaped model:")
    print("| records | FASTA MB | records/s | driver peak RSS MiB | RSS at 10% / 50% / 90% MiB |")
    print("|---:|---:|---:|---:|---|")
    for count in (n // 10, n):
        fasta = folder / f"r{count}.fa"
        with open(fasta, "w") as fh:
            for i in range(count):
                fh.write(f">r{i}\n{''.join(rng.choices('ACGT', k=rng.randrange(60, 141)))}\n")
        out = run(["predict", str(fasta), "-m", str(model), "-o", str(folder / "big.parquet"), "--engine", "ray",
                   "--workers", "2", "--cpus-per-worker", "1"], 1)
        s = out["samples"]
        marks = " / ".join(f"{s[int(len(s) * q)]:.0f}" for q in (0.1, 0.5, 0.9))
        print(f"| {count:,} | {fasta.stat().st_size / 1e6:.0f} | {out['rate']:,.0f} | {out['peak']:.0f} | {marks} |")
        fasta.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="dnallm-ray-bench-") as tmp:
        if not args.skip_throughput:
            throughput(Path(tmp), args.repeats)
        if args.records:
            driver_memory(Path(tmp), args.records)


if __name__ == "__main__":
    main()
