"""Integrated gradients' completeness for each tokenizer family: the per-token attributions of a window sum to
target(input) - target(baseline); this prints the worst relative error over a record's windows and the time.

    python benchmarks/gradient_completeness.py                  # float32, 20 and 50 steps
    python benchmarks/gradient_completeness.py --dtype bfloat16

Models: dnallm.testing's tiny models of the four families (random weights, init 0.2); the record is the first
peak of examples/data/peaks.fa (200 bp). tests/test_gradients.py checks the same sums against a direct
transformers forward on the input and on the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dnallm import DNAInference, gradients, read_fasta, testing
from dnallm.targets import target_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args()
    rec = next(iter(read_fasta(testing.DATA / "peaks.fa")))
    print(f"record {rec.id} ({len(rec)} bp), dtype {args.dtype}\n")
    print("| family | windows x tokens | f(x) - f(x') | steps | worst relative error | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for family, build in testing.BUILDERS.items():
            inf = DNAInference(build(Path(tmp) / family), device="cpu", dtype=args.dtype)
            head, _ = target_head(inf.head, inf.model.config)
            windows = inf.runner.windows(rec)
            for steps in (20, 50):
                start = time.perf_counter()
                done = [gradients.attribute_window(inf.runner, w, head, "integrated_gradients", steps) for w in windows]
                worst = max(d.relative_error for d in done)
                diff = done[0].output - done[0].baseline_output
                print(f"| {family} | {len(windows)} x {len(windows[0])} | {diff:.3f} | {steps} | {worst:.1e} | "
                      f"{time.perf_counter() - start:.2f} |")


if __name__ == "__main__":
    main()
