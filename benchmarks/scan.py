"""Throughput and memory of `dnallm scan` against `dnallm predict` on the same windows, over the whole C. diphtheriae
genome in the repo (2,463,666 bp) with the demo model.

    python benchmarks/scan.py [--repeats 3] [--window 200 --step 100]     # --repeats 0: the window cutting only

`scan GENOME --window W --step S -o tiles.tsv` and `predict tiles.fa -o pred.tsv`, where tiles.fa holds the same
windows as FASTA records (cut here from the genome, one 200 bp record each), run alternately, each in a fresh
process (the CLI's main() in-process, so that its RSS can be sampled every 0.25 s). Printed: windows/s of each run
(windows / the command's wall time, the model load included in both), their medians and ratio, each run's peak
RSS (ru_maxrss) and the scan's RSS at 10%, 50% and 90% of its run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENOME = REPO / "examples" / "data" / "c_diphtheriae_NCTC11397.fna.gz"

CHILD = r"""
import json, os, resource, sys, threading, time
os.environ["HF_HUB_OFFLINE"] = "1"
from dnallm.cli import main
samples, done = [], threading.Event()
page = os.sysconf("SC_PAGE_SIZE")
def watch():
    while not done.is_set():
        with open("/proc/self/statm") as fh:
            samples.append(int(fh.read().split()[1]) * page / 2**20)
        time.sleep(0.25)
threading.Thread(target=watch, daemon=True).start()
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
done.set()
print(json.dumps(dict(code=code, seconds=seconds, samples=samples,
                      peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def run(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, *args, "-q"], capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def planning(window: int, step: int) -> None:
    """The time to read and cut the windows from the genome alone (no model)."""
    import time

    from dnallm.io.genome import Genome
    from dnallm.scan import plan_tiles

    genome = Genome(GENOME)
    start = time.perf_counter()
    n = sum(1 for _ in plan_tiles(genome, list(genome.lengths), window, step, 0.5))
    print(f"reading and cutting the {n:,} windows from the genome, no model: {time.perf_counter() - start:.2f} s")
    genome.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--step", type=int, default=100)
    args = parser.parse_args()
    with gzip.open(GENOME, "rt") as fh:
        header, *lines = fh.read().split("\n")
    chrom, seq = header[1:].split()[0], "".join(lines).upper()
    starts = list(range(0, len(seq) - args.window + 1, args.step))
    starts += [len(seq) - args.window] if starts[-1] + args.window < len(seq) else []
    print(f"{chrom}: {len(seq):,} bp, {len(starts):,} windows of {args.window} bp every {args.step} bp; demo model; "
          f"{args.repeats} runs of each, alternating")
    planning(args.window, args.step)
    if not args.repeats:
        return
    rates: dict[str, list[float]] = {"scan": [], "predict": []}
    peaks: dict[str, list[float]] = {"scan": [], "predict": []}
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "tiles.fa"
        with open(fasta, "w") as fh:
            for s in starts:
                fh.write(f">{chrom}:{s}-{s + args.window}\n{seq[s : s + args.window]}\n")
        commands = {
            "scan": ["scan", str(GENOME), "--window", str(args.window), "--step", str(args.step), "-o",
                     f"{tmp}/scan.tsv"],
            "predict": ["predict", str(fasta), "-o", f"{tmp}/predict.tsv"],
        }
        for repeat in range(args.repeats):
            for name, command in commands.items():
                result = run(command)
                rate = len(starts) / result["seconds"]
                rates[name].append(rate)
                peaks[name].append(result["peak"])
                line = f"run {repeat + 1} {name:8s} {result['seconds']:6.1f} s  {rate:6.1f} windows/s  peak RSS " \
                       f"{result['peak']:6.0f} MiB"
                if name == "scan":
                    s = result["samples"]
                    at = [s[int(len(s) * f)] for f in (0.1, 0.5, 0.9)]
                    line += f"  RSS at 10/50/90% of the run: {at[0]:.0f} / {at[1]:.0f} / {at[2]:.0f} MiB"
                print(line, flush=True)
    scan, predict = statistics.median(rates["scan"]), statistics.median(rates["predict"])
    print(f"\nmedian windows/s: scan {scan:.1f}, predict {predict:.1f}; scan / predict = {scan / predict:.3f}")
    print(f"median peak RSS: scan {statistics.median(peaks['scan']):.0f} MiB, predict "
          f"{statistics.median(peaks['predict']):.0f} MiB")


if __name__ == "__main__":
    main()
