"""The GPU check: records/s, peak GPU memory and exactness of `predict` on each fast path, in one table.

    python benchmarks/gpu_check.py             # on a machine with a CUDA GPU (sized to finish within 8 minutes)
    python benchmarks/gpu_check.py --dry-run   # a few records per path, to see that it runs (also what happens
                                               # by itself on a machine without a GPU, which it says)

Runs from a fresh clone with only PyPI packages (no model hub): three models built locally with transformers'
classes (random weights, larger init; the speed does not depend on the weights):

  demo       the embedded demo model (BERT, 6-mers, 197 tokens), 200 bp records
  base-bert  BERT-base shape (12 layers, hidden 768, 12 heads), overlapping 6-mers, 1,024 positions, 1,000 bp records
  bigbird    GENA-LM BigBird's shape and attention layout (12 layers, hidden 768, block 64, 3 random blocks, BPE of
             32,000 tokens), 4,096 positions, 8-16 kb records (block-sparse)

Paths, each through `DNAInference(model, dtype=..., attn_implementation=...)` and `predict` (the public path):
fp32 eager (the reference), fp32 sdpa, bf16 eager, bf16 sdpa, bf16 sdpa restricted to PyTorch's flash kernel
(`torch.nn.attention.sdpa_kernel(SDPBackend.FLASH_ATTENTION)`; BERT records of one length, so batches carry no
padding mask the kernel would refuse), and bf16 `flash_attention_2` when the flash-attn package is importable.
BigBird has no sdpa: eager only. Each path: one warm-up batch, then the timed run; peak memory from
`torch.cuda.max_memory_allocated` (reset per path); max |diff| of the probabilities against fp32 eager on the same
records. A path that cannot run says why in the table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import dnallm  # noqa: E402
from dnallm import testing  # noqa: E402
from dnallm.modeling import flash_attn_importable  # noqa: E402
from dnallm.registry import DEFAULT_MODEL  # noqa: E402

hf_logging.disable_progress_bar()
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
#: model -> (builder or None for the demo, record length range in bp, records on a GPU, records in a dry run)
MODELS = {
    "demo": (None, (200, 200), 20000, 16),
    "base-bert": (lambda p: testing.build_dnabert(p, max_tokens=1024, shape=BASE), (1000, 1000), 2000, 4),
    "bigbird": (lambda p: testing.build_bigbird(p, max_tokens=4096, block_size=64, random_blocks=3, bpe_vocab=32000,
                                                shape=BASE), (8000, 16000), 300, 2),
}
PATHS = [("float32", "eager"), ("float32", "sdpa"), ("bfloat16", "eager"), ("bfloat16", "sdpa"),
         ("bfloat16", "sdpa-flash"), ("bfloat16", "flash_attention_2")]


def sdpa_flash():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION])


def run_path(name: str, model: str, records: list, dtype: str, attn: str, device: str) -> dict:
    """One path: records/s, peak GPU MiB and the probabilities, or why it cannot run."""
    if attn in ("sdpa-flash", "flash_attention_2") and device != "cuda":
        return dict(note="needs CUDA")
    if attn == "flash_attention_2" and not flash_attn_importable():
        return dict(note="flash-attn not installed (pip install flash-attn needs a CUDA toolchain)")
    if name == "bigbird" and attn != "eager":
        return dict(note="BigBird has no sdpa or flash path (block-sparse attention is its own kernel)")
    try:
        inf = dnallm.DNAInference(model, device=device, dtype=dtype,
                                  attn_implementation="sdpa" if attn == "sdpa-flash" else attn)
        scope = sdpa_flash() if attn == "sdpa-flash" else contextlib.nullcontext()
        with scope:
            inf.predict(records[: max(1, min(len(records), 8))])  # warm-up: kernels, allocator
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            out = inf.predict(records)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - a path that cannot run is a row of the table, not the end of the check
        return dict(note=f"cannot run: {' '.join(str(exc).split())[:90]}")
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    values = out[inf.output_columns].to_numpy(np.float64)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(inf.last_run.attention_types.items()))
    return dict(rate=len(records) / seconds, peak=peak, values=values, attn=inf.attn_implementation,
                windows=inf.last_run.windows, kinds=f"; batches by attention: {kinds}" if kinds else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="a few records per path")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    args = parser.parse_args()
    begun = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dry = args.dry_run or device == "cpu"
    if device == "cpu":
        print("no CUDA GPU here (torch.cuda.is_available() is False): a dry run on the CPU with a few records per "
              "path; the CUDA-only paths say so. Run it on a GPU machine for the table that counts.\n")
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none"
    print(f"device {device} ({gpu}); torch {torch.__version__}, transformers {transformers.__version__}, "
          f"dnallm {dnallm.__version__}, Python {platform.python_version()}; flash-attn importable: "
          f"{flash_attn_importable()}{'; dry run' if dry else ''}\n")
    print("| model | dtype | attention | records | records/s | peak GPU MiB | max abs diff vs fp32 eager | note |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            build, (low, high), n_gpu, n_dry = MODELS[name]
            path = DEFAULT_MODEL if build is None else str(build(Path(tmp) / name))
            records = testing.genome_windows(n_dry if dry else n_gpu, low, high, seed=1)
            reference = None
            for dtype, attn in PATHS:
                result = run_path(name, path, records, dtype, attn, device)
                if "values" not in result:
                    print(f"| {name} | {dtype} | {attn} | {len(records):,} | - | - | - | {result['note']} |",
                          flush=True)
                    continue
                if reference is None and (dtype, attn) == ("float32", "eager"):
                    reference = result["values"]
                diff = "-" if reference is None else f"{np.abs(result['values'] - reference).max():.1e}"
                peak = "-" if result["peak"] is None else f"{result['peak']:,.0f}"
                note = f"backend {result['attn']}; {result['windows']:,} model inputs{result['kinds']}"
                print(f"| {name} | {dtype} | {attn} | {len(records):,} | {result['rate']:,.1f} | {peak} | {diff} | "
                      f"{note} |", flush=True)
    print(f"\n{time.perf_counter() - begun:.0f} s in all")


if __name__ == "__main__":
    main()
