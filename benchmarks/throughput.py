"""Records/s of `dnallm predict` against the plain transformers loop and against the pure-forward limit.

    python benchmarks/throughput.py --model tiny-bert            # 2,000 windows of 200-1,000 bp
    python benchmarks/throughput.py --model base-bert --records 96
    python benchmarks/throughput.py --model tiny-bigbird --records 64
    python benchmarks/throughput.py --model gena-bigbird --records 12
    python benchmarks/throughput.py --model tiny-bigbird --records 512 --no-loop   # dnallm against pure only

Three pipelines on the same model and the same FASTA file of real genome windows (cut at seeded random places
from the C. diphtheriae chromosome in examples/data), timed after the model is loaded:

  loop    what a user writes with transformers alone: Biopython reads the FASTA, k-mers are joined in Python
          (k-mer models), the model's tokenizer pads each batch of 32 records (file order) to its longest, the
          model runs with sdpa (eager for BigBird, which has no sdpa) under torch.inference_mode, softmax,
          pandas writes the TSV;
  dnallm  `dnallm predict windows.fa -o out.tsv`: DNAInference.iter_predict and the TSV writer, the CLI's own code;
  pure    the model's forward alone on dnallm's batches, tokenized and padded beforehand: nothing else timed
          (BigBird also "pure, dense map": the same with transformers' dense attention map built in every
          block-sparse layer, which dnallm's forward skips).

Models (random weights; the speed does not depend on them):
  tiny-bert     BERT, 2 layers, hidden 32, overlapping 6-mers, 1,024 positions (the tests' DNABERT-style model)
  base-bert     BERT-base shape: 12 layers, hidden 768, 12 heads, 3,072 feed-forward, 6-mers, 1,024 positions
  tiny-bigbird  BigBird, 2 layers, hidden 64, BPE (32,000 tokens trained on the genome), 4,096 positions,
                block 64, 3 random blocks: GENA-LM BigBird's attention layout at a small width
  gena-bigbird  the same at GENA-LM BigBird's size: 12 layers, hidden 768, 12 heads, 3,072 feed-forward
The 6-mer models get 1,024 positions so that a 1,000 bp window fits one input: both pipelines then run exactly
the same tokens (no truncation, no windows). BigBird windows are 1-20 kb (at most ~3,500 BPE tokens here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
REPO = Path(__file__).resolve().parent.parent

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import dnallm  # noqa: E402
from dnallm import testing  # noqa: E402
from dnallm.batching import pad_batch, plan_batches  # noqa: E402
from dnallm.io.writers import ResultWriter  # noqa: E402
from dnallm.bigbird import attention_type_for, batch_groups, no_dense_attention_map  # noqa: E402
from dnallm.testing import genome_windows  # noqa: E402  (seeded real genome windows)

BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
MODELS = {
    "tiny-bert": dict(build=lambda p: testing.build_dnabert(p, max_tokens=1024), bp=(200, 1000), kmer=6),
    "base-bert": dict(build=lambda p: testing.build_dnabert(p, max_tokens=1024, shape=BASE), bp=(200, 1000),
                      kmer=6),
    "tiny-bigbird": dict(build=lambda p: testing.build_bigbird(
        p, max_tokens=4096, block_size=64, random_blocks=3, bpe_vocab=32000,
        shape=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256)),
        bp=(1000, 20000), kmer=None),
    "gena-bigbird": dict(build=lambda p: testing.build_bigbird(
        p, max_tokens=4096, block_size=64, random_blocks=3, bpe_vocab=32000, shape=BASE), bp=(1000, 20000),
        kmer=None),
}


def plain_loop(tokenizer, model, fasta: Path, out: Path, kmer: int | None, batch_size: int = 32) -> None:
    from Bio import SeqIO

    records = [(r.id, str(r.seq).upper()) for r in SeqIO.parse(str(fasta), "fasta")]
    rows = []
    with torch.inference_mode():
        for i in range(0, len(records), batch_size):
            batch = records[i : i + batch_size]
            if kmer:
                texts = [" ".join(seq[j : j + kmer] for j in range(len(seq) - kmer + 1)) for _, seq in batch]
            else:
                texts = [seq for _, seq in batch]
            enc = tokenizer(texts, padding="longest", return_tensors="pt")
            enc.pop("token_type_ids", None)
            probs = model(**enc).logits.softmax(-1).numpy()
            rows.extend((rid, len(seq), *p) for (rid, seq), p in zip(batch, probs))
    pd.DataFrame(rows, columns=["id", "length", "Mafk", "Oct4"]).to_csv(out, sep="\t", index=False)


def loop_padding(inf: dnallm.DNAInference, windows: list[tuple[str, str]], batch_size: int = 32) -> float:
    """The fraction of padding tokens in the plain loop's batches (file order, each padded to its longest)."""
    lengths = [len(inf.tokenizer.encode(seq, record_id=rid)) for rid, seq in windows]
    padded = sum(len(b) * max(b) for b in (lengths[i : i + batch_size] for i in range(0, len(lengths), batch_size)))
    return 1 - sum(lengths) / padded


def write_fasta(path: Path, windows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in windows))
    return path


def with_dnallm(inf: dnallm.DNAInference, fasta: Path, out: Path) -> None:
    with ResultWriter(out) as writer:
        for frame in inf.iter_predict(str(fasta)):
            writer.write(frame)


def prepare_pure(inf: dnallm.DNAInference, windows: list[tuple[str, str]]) -> list[dict]:
    """dnallm's batches for these records, tokenized and padded in advance."""
    encodings = [e for rid, seq in windows for e in inf.tokenizer.windows(seq, record_id=rid)]
    lengths = np.array([len(e) for e in encodings])
    group = batch_groups(inf.model.config, lengths)
    pad = inf.tokenizer.pad_id or 0
    return [pad_batch([encodings[i] for i in b], pad) for b in plan_batches(lengths, inf.max_batch_tokens, group)]


def pure_forward(model, batches: list[dict], dense_map: bool = False) -> None:
    """The forward passes as dnallm runs them (BigBird: attention type per batch, no dense attention map unless
    ``dense_map``, which shows what building transformers' map costs)."""
    with torch.inference_mode():
        for batch in batches:
            with attention_type_for(model, batch["input_ids"].shape[1]):
                with contextlib.nullcontext() if dense_map else no_dense_attention_map(model):
                    model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=list(MODELS), default="tiny-bert")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch-tokens", type=int, default=None, help="default: dnallm's own")
    parser.add_argument("--chunk-batches", type=int, default=None,
                        help="batches' worth of records planned at a time (default: dnallm's own)")
    parser.add_argument("--no-loop", action="store_true",
                        help="time dnallm and pure only (for inputs where the plain loop would take too long)")
    args = parser.parse_args()
    spec = MODELS[args.model]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = spec["build"](tmp / "model")
        windows = genome_windows(args.records, *spec["bp"])
        fasta = write_fasta(tmp / "windows.fa", windows)
        inf = dnallm.DNAInference(model_dir, max_batch_tokens=args.max_batch_tokens)
        if args.chunk_batches:
            inf.chunk_batches = args.chunk_batches
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        attn = "eager" if spec["kmer"] is None else "sdpa"
        model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation=attn)
        model.eval()
        batches = prepare_pure(inf, windows)
        start = time.perf_counter()  # what tokenizing costs, once, on its own
        for rid, seq in windows:
            inf.tokenizer.windows(seq, record_id=rid)
        tokenize_seconds = time.perf_counter() - start
        runs = {} if args.no_loop else {
            "loop": lambda: plain_loop(tokenizer, model, fasta, tmp / "loop.tsv", spec["kmer"])}
        runs |= {
            "dnallm": lambda: with_dnallm(inf, fasta, tmp / "dnallm.tsv"),
            "pure": lambda: pure_forward(inf.model, batches),
        }
        if spec["kmer"] is None:  # BigBird: the same forward passes with transformers' dense attention map built
            runs["pure, dense map"] = lambda: pure_forward(inf.model, batches, dense_map=True)
        times = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        ours = pd.read_csv(tmp / "dnallm.tsv", sep="\t")
        bp = sum(len(s) for _, s in windows)
        run = inf.last_run
        median = {name: statistics.median(t) for name, t in times.items()}
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
              f"({torch.get_num_threads()} threads), transformers {transformers.__version__}")
        print(f"model: {args.model}; data: {args.records} C. diphtheriae windows of {spec['bp'][0]:,}-"
              f"{spec['bp'][1]:,} bp ({bp:,} bp); medians of {args.repeats}; dnallm attention "
              f"{inf.attn_implementation}, {run.batches} batches ({inf.max_batch_tokens:,} tokens, planned "
              f"{inf.chunk_batches} at a time), {run.padding_fraction:.1%} padding (loop's batches of 32: "
              f"{loop_padding(inf, windows):.1%})"
              + (f", BigBird {dict(run.attention_types)}" if run.attention_types else "") + "\n")
        vs_loop = "loop" in median
        print("| pipeline | seconds | records/s |" + (" vs loop |" if vs_loop else "") + " vs pure forward |")
        print("|---|---:|---:|" + ("---:|" if vs_loop else "") + "---:|")
        for name in runs:
            t = median[name]
            print(f"| {name} | {t:.2f} | {args.records / t:,.1f} | "
                  + (f"{median['loop'] / t:.2f}x | " if vs_loop else "") + f"{median['pure'] / t:.2f} |")
        print(f"\ntokenization alone (dnallm's tokenizer over every record, once): {tokenize_seconds:.2f} s, "
              f"{tokenize_seconds / median['pure']:.0%} of the pure forward")
        if vs_loop:
            loop = pd.read_csv(tmp / "loop.tsv", sep="\t")
            diff = np.abs(loop[["Mafk", "Oct4"]].to_numpy() - ours[["Mafk", "Oct4"]].to_numpy()).max()
            print(f"max |p_loop - p_dnallm| = {diff:.1e}")
        print("all times: " + "; ".join(f"{n} " + ", ".join(f"{x:.2f}" for x in t) for n, t in times.items()))
        if hasattr(model.base_model, "attention_type"):
            if vs_loop:
                print(f"plain loop's BigBird after its run: attention_type = {model.base_model.attention_type}")
            # dnallm's batches never change an input's block layout: each record alone gives the same output
            alone = np.array([inf.predict([record])[inf.output_columns].to_numpy()[0] for record in windows])
            print(f"max |p_dnallm - p_record_alone| = {np.abs(ours[inf.output_columns].to_numpy() - alone).max():.1e}")


if __name__ == "__main__":
    main()
