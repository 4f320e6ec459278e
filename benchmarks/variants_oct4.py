"""Biology sanity of `dnallm variants` with the demo model: SNVs inside the Oct4 octamer of held-out Oct4 peaks
against SNVs in the same peaks' flanks.

    python benchmarks/variants_oct4.py

The genome is the 100 held-out Oct4 peaks of examples/data/oct4_test.fa, one contig each (200 bp; ``:`` in the
names becomes ``_``). In every peak holding the octamer ATGCAAAT (either strand, first occurrence), each of its 8
bases is changed to each of the 3 other bases (24 SNVs: the octamer group); the flank group has as many SNVs at
bases 30 bp or more away from any octamer, the same number per peak, at seeded positions. Both groups are written
to one VCF and scored by `dnallm variants` (the embedded demo model, windows of 200 bp: the whole peak). Printed:
per group, the mean ``delta_Oct4`` (alt - ref probability of Oct4), the mean ``log_odds_ratio_Oct4`` and the share
of SNVs that lower p(Oct4).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent

import pandas as pd  # noqa: E402

from dnallm import read_fasta  # noqa: E402
from dnallm.cli import main as dnallm_main  # noqa: E402

OCTAMER = ("ATGCAAAT", "ATTTGCAT")  # and its reverse complement


def variants(peaks: list[tuple[str, str]], seed: int = 0) -> list[tuple[str, int, str, str, str]]:
    """(contig, POS, group, REF, ALT) rows, sorted as a VCF."""
    rng, rows = random.Random(seed), []
    for name, seq in peaks:
        hits = [i for motif in OCTAMER for i in range(len(seq) - 7) if seq[i : i + 8] == motif]
        if not hits:
            continue
        first = min(hits)
        inside = range(first, first + 8)
        far = [p for p in range(len(seq)) if all(abs(p - h) >= 30 and abs(p - h - 7) >= 30 for h in hits)]
        if len(far) < 8:
            continue
        for p in inside:
            rows += [(name, p + 1, "octamer", seq[p], b) for b in "ACGT" if b != seq[p]]
        for p in rng.sample(far, 8):
            rows += [(name, p + 1, "flank", seq[p], b) for b in "ACGT" if b != seq[p] and seq[p] != "N"]
    order = {name: i for i, (name, _) in enumerate(peaks)}
    return sorted(rows, key=lambda r: (order[r[0]], r[1], r[4]))


def main() -> None:
    peaks = [(rec.id.replace(":", "_"), rec.seq) for rec in read_fasta(REPO / "examples" / "data" / "oct4_test.fa")]
    rows = variants(peaks)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genome, vcf, out = tmp / "oct4_peaks.fa", tmp / "octamer_snvs.vcf", tmp / "effects.tsv"
        genome.write_text("".join(f">{name}\n{seq}\n" for name, seq in peaks))
        with open(vcf, "w") as fh:
            fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
            fh.writelines(f"{c}\t{p}\t{g}\t{r}\t{a}\t.\t.\t.\n" for c, p, g, r, a in rows)
        code = dnallm_main(["variants", str(vcf), "--genome", str(genome), "-o", str(out), "-q"])
        if code:
            sys.exit(code)
        df = pd.read_csv(out, sep="\t")
    n_peaks = df["chrom"].nunique()
    print(f"{len(df):,} SNVs in {n_peaks} Oct4 test peaks with the octamer (demo model, 200 bp windows)\n")
    print("| group | SNVs | mean ref_Oct4 | mean delta_Oct4 | mean log_odds_ratio_Oct4 | share lowering p(Oct4) |")
    print("|---|---:|---:|---:|---:|---:|")
    means = {}
    for group in ("octamer", "flank"):
        part = df[df["id"] == group]
        means[group] = part["delta_Oct4"].mean(), part["log_odds_ratio_Oct4"].mean()
        print(f"| {group} | {len(part):,} | {part['ref_Oct4'].mean():.5f} | {means[group][0]:+.6f} | "
              f"{means[group][1]:+.4f} | {(part['delta_Oct4'] < 0).mean():.0%} |")
    print(f"\noctamer / flank: mean delta_Oct4 {means['octamer'][0] / means['flank'][0]:.1f}x, mean log-odds ratio "
          f"{means['octamer'][1] / means['flank'][1]:.1f}x")


if __name__ == "__main__":
    main()
