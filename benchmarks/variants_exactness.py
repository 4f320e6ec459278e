"""Exactness of `score_variants`: ref_/alt_ against a direct transformers forward on the windows each row names,
and llr against a hand-computed masked forward, with the largest difference printed.

    python benchmarks/variants_exactness.py [--snvs 40]

The tiny test models of every tokenizer family (dnallm.testing, classifiers; masked LMs for the single-nucleotide,
non-overlapping and overlapping k-mer families), seeded SNVs on examples/data/phiX174.fa plus one near each contig
end. The direct forward and the hand-computed llr are those of tests/test_variants.py (the model's own Hugging Face
tokenizer and a plain forward; no dnallm code).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from dnallm import DNAInference, testing  # noqa: E402
from tests.test_variants import alt_window, direct_probabilities, hand_llr, phix, snvs, write_vcf  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snvs", type=int, default=40)
    args = parser.parse_args()
    seq = phix()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genome = tmp / "phiX174.fa"
        shutil.copy(testing.DATA / "phiX174.fa", genome)
        vcf = write_vcf(tmp / "snvs.vcf", snvs(args.snvs, seed=1))
        print(f"{args.snvs + 2} SNVs on phiX174 (two near the contig's ends)\n")
        print("| model | family | rows | max abs diff ref_* | max abs diff alt_* | max abs delta_Oct4 |")
        print("|---|---|---:|---:|---:|---:|")
        for family, build in testing.BUILDERS.items():
            path = build(tmp / family)
            df = DNAInference(path).score_variants(vcf, genome)
            refs = [seq[a:b] for a, b in zip(df["window_start"], df["window_end"])]
            alts = [alt_window(seq, a, b, p, r, x) for a, b, p, r, x in
                    zip(df["window_start"], df["window_end"], df["pos"], df["ref"], df["alt"])]
            ref_diff = np.abs(df[["ref_Mafk", "ref_Oct4"]].to_numpy() - direct_probabilities(path, family, refs)).max()
            alt_diff = np.abs(df[["alt_Mafk", "alt_Oct4"]].to_numpy() - direct_probabilities(path, family, alts)).max()
            print(f"| classifier | {family} | {len(df)} | {ref_diff:.1e} | {alt_diff:.1e} | "
                  f"{np.abs(df['delta_Oct4']).max():.3f} |")
        print("\n| model | family | rows | max abs diff llr | max abs llr |\n|---|---|---:|---:|---:|")
        masked = {"single_nucleotide": lambda p: testing.build_bigbird(p, max_tokens=128, head="masked_lm"),
                  "nonoverlapping_kmer": lambda p: testing.build_nt(p, max_tokens=32, head="masked_lm"),
                  "overlapping_kmer": lambda p: testing.build_dnabert(p, max_tokens=64, head="masked_lm")}
        for family, build in masked.items():
            path = build(tmp / f"mlm_{family}")
            df = DNAInference(path).score_variants(vcf, genome)
            expected = [hand_llr(path, family, seq[a:b], p - 1 - a, x)
                        for a, b, p, x in zip(df["window_start"], df["window_end"], df["pos"], df["alt"])]
            print(f"| masked LM | {family} | {len(df)} | {np.abs(df['llr'] - expected).max():.1e} | "
                  f"{np.abs(df['llr']).max():.2f} |")
        annotated_vcf(tmp)


def annotated_vcf(tmp: Path) -> None:
    """`dnallm variants` on examples/data/phiX174_variants.vcf into .tsv and .vcf.gz; every INFO value read back by
    cyvcf2 against the table's (float32, exact)."""
    import cyvcf2
    import pandas as pd

    from dnallm.cli import main as dnallm_main

    example = REPO / "examples" / "data" / "phiX174_variants.vcf"
    genome = tmp / "phiX174.fa"
    for out in ("effects.tsv", "effects.vcf.gz"):
        assert dnallm_main(["variants", str(example), "--genome", str(genome), "-o", str(tmp / out), "-q"]) == 0
    table = pd.read_csv(tmp / "effects.tsv", sep="\t")
    columns = list(table.columns[7:])
    info = []
    for rec in cyvcf2.VCF(str(tmp / "effects.vcf.gz")):
        values = [rec.INFO.get("DNALLM_" + c) for c in columns]
        if values[0] is None:
            continue
        values = [v if isinstance(v, tuple) else (v,) for v in values]
        for j, alt in enumerate(rec.ALT):
            info.append((rec.ID, alt, [v[j] for v in values]))
    rows = [(r.id, r.alt, [getattr(r, c) for c in columns]) for r in table.itertuples()]
    equal = sum(a[:2] == b[:2] and np.array_equal(np.float32(a[2]), np.float32(b[2])) for a, b in zip(info, rows))
    print(f"\nannotated VCF ({example.name} -> effects.vcf.gz, read back by cyvcf2): {len(info)} scored ALTs x "
          f"{len(columns)} INFO fields against {len(rows)} table rows: {equal} of {len(rows)} rows equal (float32)")


if __name__ == "__main__":
    main()
