"""Variant-effect throughput against `dnallm predict` on the same windows, and memory over a long VCF.

    python benchmarks/variants.py [--variants 2000] [--repeats 3] [--memory 100000]

The genome is the C. diphtheriae chromosome (examples/data, decompressed into a temporary folder); the VCF holds
seeded random SNVs on it (REF from the genome, sorted). The model is the embedded demo model (200 bp windows).

Throughput: ``DNAInference.score_variants`` on ``--variants`` SNVs, then ``DNAInference.predict`` on the very
windows it ran (each variant's REF and ALT window, rebuilt from ``window_start``/``window_end``, as 2 x variants
FASTA records). Printed: the median over ``--repeats`` runs of variants/s and of predict's rows/s, and the ratio
``2 * variants/s / predict rows/s`` (1.0: scoring a variant costs exactly its two windows through predict).

Memory: `dnallm variants`' own code (``iter_score_variants`` into the TSV writer) over ``--memory`` SNVs; the
resident set size (VmRSS, /proc) is read after every chunk. Printed: RSS at 10,000 variants and at the end.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent

import numpy as np  # noqa: E402

import dnallm  # noqa: E402
from dnallm.io.writers import ResultWriter  # noqa: E402
from stream_memory import rss_mb  # noqa: E402  (benchmarks/, the script's folder)


def genome(tmp: Path) -> tuple[Path, str, str]:
    path = tmp / "genome.fa"
    with gzip.open(REPO / "examples" / "data" / "c_diphtheriae_NCTC11397.fna.gz", "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    lines = path.read_text().split("\n")
    return path, lines[0][1:].split()[0], "".join(lines[1:]).upper()


def write_vcf(path: Path, chrom: str, seq: str, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(np.arange(200, len(seq) - 200), n, replace=False))
    shifts = rng.integers(1, 4, n)
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i, (p, s) in enumerate(zip(positions, shifts)):
            ref = seq[p]
            alt = "ACGT"[("ACGT".index(ref) + s) % 4] if ref in "ACGT" else "A"
            fh.write(f"{chrom}\t{p + 1}\tsnv{i}\t{ref}\t{alt}\t.\t.\t.\n")


def throughput(inf, vcf: Path, fasta: Path, seq: str, repeats: int) -> None:
    df = inf.score_variants(vcf, fasta)  # warm-up, and the windows
    records = []
    for row in df.itertuples():
        window = seq[row.window_start : row.window_end]
        o = row.pos - 1 - row.window_start
        records += [(f"{row.id}_ref", window), (f"{row.id}_alt", window[:o] + row.alt + window[o + 1 :])]
    inf.predict(records[:200])
    variant_rates, predict_rates = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        scored = inf.score_variants(vcf, fasta)
        variant_rates.append(len(scored) / (time.perf_counter() - start))
        start = time.perf_counter()
        predicted = inf.predict(records)
        predict_rates.append(len(predicted) / (time.perf_counter() - start))
    v, p = statistics.median(variant_rates), statistics.median(predict_rates)
    print(f"\n| run | rows | median rate |\n|---|---:|---:|\n| score_variants | {len(df):,} variants | {v:,.0f} "
          f"variants/s |\n| predict on the same windows | {len(records):,} records | {p:,.0f} rows/s |")
    print(f"\nratio (2 x variants/s) / (predict rows/s): {2 * v / p:.2f} (medians of {repeats} runs)")


def memory(inf, tmp: Path, chrom: str, seq: str, fasta: Path, n: int) -> None:
    vcf = tmp / "long.vcf"
    write_vcf(vcf, chrom, seq, n, seed=1)
    writer = ResultWriter(tmp / "long.tsv")
    samples, done = [], 0
    start = time.perf_counter()
    for frame in inf.iter_score_variants(vcf, fasta):
        writer.write(frame)
        done += len(frame)
        samples.append((done, rss_mb()))
    writer.close()
    seconds = time.perf_counter() - start
    at = next(r for d, r in samples if d >= min(10_000, done))
    print(f"\n{done:,} variants in {seconds:.0f} s ({done / seconds:,.0f}/s); RSS {at:,.0f} MB at "
          f"{min(10_000, done):,} variants, {samples[-1][1]:,.0f} MB at the end, peak {max(r for _, r in samples):,.0f}"
          f" MB: growth {samples[-1][1] - at:+,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", type=int, default=100_000, help="SNVs of the memory run (0: none)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"dnallm {dnallm.__version__}; demo model, 200 bp windows")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fasta, chrom, seq = genome(tmp)
        inf = dnallm.DNAInference()
        vcf = tmp / "calls.vcf"
        write_vcf(vcf, chrom, seq, args.variants)
        throughput(inf, vcf, fasta, seq, args.repeats)
        if args.memory:
            memory(inf, tmp, chrom, seq, fasta, args.memory)


if __name__ == "__main__":
    main()
