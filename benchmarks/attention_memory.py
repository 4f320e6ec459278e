"""Peak memory of `DNAInference.attentions` on a 4,096-token BigBird input: one layer kept vs all layers.

    python benchmarks/attention_memory.py

Model: a character-level BigBird shaped like GENA-LM BigBird's attention (4,096 positions, block size 64, 3 random
blocks, block-sparse) with 6 layers of 8 heads, hidden 256 (random weights: memory does not depend on them).
Input: the first 4,094 bp of phage lambda (examples/data), 4,096 tokens with [CLS] and [SEP].
Each setting runs in a fresh process; peak RSS is the process's maximum resident set size (getrusage), reported
with the increase over the peak after the model was loaded, next to dnallm's estimate made before computing
(dnallm.attention.attention_memory_bytes, what DNALLM_ATTENTION_MEMORY_LIMIT and the available-memory check use).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(model_dir: str, layers: str, heads: str) -> None:
    import dnallm

    inf = dnallm.DNAInference(model_dir)
    (lam,) = dnallm.read_fasta(REPO / "examples" / "data" / "lambda_phage.fa.gz")
    record = ("lambda", lam.seq[:4094])
    loaded = peak_mb()
    start = time.perf_counter()
    amap = inf.attentions(record, layers=-1 if layers == "one" else "all", heads=heads)
    seconds = time.perf_counter() - start
    from dnallm.attention import attention_memory_bytes

    config = inf.model.config
    estimate = attention_memory_bytes(len(amap.input_ids), len(amap.layers), 1 if amap.heads is None else
                                      len(amap.heads), config.num_attention_heads, config.block_size,
                                      mean_of_heads=amap.heads is None)
    print(json.dumps({"estimate_mb": estimate / 2**20, "loaded_mb": loaded, "peak_mb": peak_mb(), "seconds": seconds,
                      "weights_mb": amap.weights.nbytes / 2**20, "shape": list(amap.weights.shape),
                      "attention_type": amap.attention_type, "tokens": len(amap.input_ids)}))


def main() -> None:
    from dnallm import testing

    with tempfile.TemporaryDirectory() as tmp:
        # GENA-LM-like attention shape: more layers and heads than the test model
        path = testing.build_bigbird(
            Path(tmp) / "bigbird", max_tokens=4096, block_size=64, random_blocks=3,
            shape=dict(num_hidden_layers=6, num_attention_heads=8, hidden_size=256, intermediate_size=512),
        )
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print("model: char BigBird, 4,096 positions, block 64, 3 random blocks, 6 layers x 8 heads, hidden 256\n")
        print("| layers kept | heads kept | weights kept (MB) | peak RSS (MB) | increase over loaded (MB) | dnallm's estimate (MB) | seconds |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for layers, heads in (("one", "all"), ("all", "all"), ("one", "mean"), ("all", "mean")):
            out = subprocess.run([sys.executable, __file__, "--child", str(path), layers, heads],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"| {'last' if layers == 'one' else 'all 6'} | {heads} | {r['weights_mb']:,.0f} | "
                  f"{r['peak_mb']:,.0f} | {r['peak_mb'] - r['loaded_mb']:,.0f} | {r['estimate_mb']:,.0f} | {r['seconds']:.2f} |")
        print(f"\n{r['tokens']} tokens, attention {r['attention_type']}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        child(*sys.argv[2:5])
    else:
        main()
