"""cProfile of `dnallm predict`'s own code before and after the throughput changes, on the throughput benchmark's data.

    python benchmarks/profile_predict.py --model tiny-bigbird --records 64
    python benchmarks/profile_predict.py --model base-bert --records 48

"before": the settings dnallm had before (a 16,384-token batch budget on CPU, batches planned 16 batches' worth of
records at a time, transformers' dense BigBird attention map built in every block-sparse layer); "after": dnallm as
it is (4,096 tokens on CPU, 64 batches' worth at a time, no dense map in predict).
Each is run once to warm up, then once under cProfile; printed: the total and the functions with the most time
of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path

import throughput  # the benchmark's models, data and dnallm pipeline (benchmarks/, the script's own folder)

import dnallm  # noqa: E402
import dnallm.inference  # noqa: E402


def profile(label: str, run, inf: dnallm.DNAInference, top: int) -> None:
    run()  # warm-up
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    total = time.perf_counter() - start
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start_at = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    stats = inf.last_run
    print(f"\n### {label}: {total:.2f} s under cProfile; {stats.batches} batches, "
          f"{stats.padding_fraction:.1%} padding\n")
    print("\n".join(lines[start_at : start_at + top + 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=list(throughput.MODELS), default="tiny-bigbird")
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    spec = throughput.MODELS[args.model]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = spec["build"](tmp / "model")
        windows = throughput.genome_windows(args.records, *spec["bp"])
        fasta = throughput.write_fasta(tmp / "windows.fa", windows)
        shipped = dnallm.bigbird.no_dense_attention_map

        before = dnallm.DNAInference(model_dir, max_batch_tokens=16384)
        before.chunk_batches = 16

        def run_before():
            dnallm.bigbird.no_dense_attention_map = lambda model: contextlib.nullcontext()
            try:
                throughput.with_dnallm(before, fasta, tmp / "before.tsv")
            finally:
                dnallm.bigbird.no_dense_attention_map = shipped

        after = dnallm.DNAInference(model_dir)
        print(f"model {args.model}, {args.records} windows of {spec['bp'][0]:,}-{spec['bp'][1]:,} bp; "
              "before: 16,384-token batches planned 16 at a time, dense BigBird map; after: "
              f"{after.max_batch_tokens:,}-token batches planned {after.chunk_batches} at a time, no dense map")
        profile("before", run_before, before, args.top)
        profile("after", lambda: throughput.with_dnallm(after, fasta, tmp / "after.tsv"), after, args.top)


if __name__ == "__main__":
    main()
