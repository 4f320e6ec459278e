"""Train the planted-motif classifier of examples/models/planted-pou5f1 (tests and benchmarks/attribution_methods.py).

    python examples/train_planted_model.py            # about a minute on 2 CPU cores

Random 100 bp sequences, half with one POU5F1 site (JASPAR 2022 MA1115.1, 11 bp) sampled from its matrix at a
random place and strand (dnallm.planted.planted_task); a 2-layer DNABERT-style BERT on overlapping 4-mers learns to
tell them apart (dnallm.planted.train_planted). Prints the held-out accuracy and writes metrics.json beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from dnallm import DNAInference
from dnallm.planted import planted_task, train_planted

OUT = Path(__file__).resolve().parent / "models" / "planted-pou5f1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--sequences", type=int, default=20000)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    train_planted(args.output, planted_task(n=args.sequences, seed=0), steps=args.steps)
    seconds = time.perf_counter() - start
    test = planted_task(n=1000, seed=1)
    prob = DNAInference(args.output).predict(test.records)["planted"].to_numpy()
    accuracy = float(((prob > 0.5) == test.labels).mean())
    metrics = {"held_out_accuracy": accuracy, "held_out_sequences": len(test.records), "steps": args.steps,
               "training_sequences": args.sequences, "train_seconds": round(seconds, 1),
               "mean_p_planted": {"planted": float(prob[test.labels == 1].mean()),
                                  "background": float(prob[test.labels == 0].mean())}}
    (args.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
