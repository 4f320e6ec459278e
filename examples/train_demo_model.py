"""Train dnallm's embedded demo model: a small DNABERT-style transformer that tells Oct4 from Mafk ChIP-seq peaks.

    pip install "dnallm[train]"
    python examples/train_demo_model.py                 # writes dnallm/models/demo-oct4-mafk/

Reproducible on a 2-core CPU (fixed seeds, 2 torch threads) in about 15 minutes. The run:

1. splits the 7,797 training peaks 90/10 into train and validation (examples/peaks_data.py);
2. trains BERT (2 layers, hidden 128, 4 heads, overlapping 6-mers, 200 bp windows) from scratch with AdamW
   (lr 2e-4, batch 32), a random reverse complement of each training peak half of the time, and early stopping
   on validation AUROC;
3. saves the best epoch's model and tokenizer, then measures through the public path (DNAInference on the saved
   directory) the AUROC and accuracy on the 200 held-out test peaks, next to the 5-mer logistic-regression
   baseline on the same split, and the [CLS] attention inside vs outside the Oct4 octamer and the MAF core;
4. writes metrics.json and the model card (README.md) with those figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent

import baseline_kmer_logreg  # noqa: E402  (examples/, the script's own folder)
import peaks_data  # noqa: E402

import dnallm  # noqa: E402
from dnallm.attention import project_to_bp  # noqa: E402

DEFAULT_OUT = HERE.parent / "dnallm" / "models" / "demo-oct4-mafk"
K = 6
WINDOW_BP = 200
MAX_TOKENS = WINDOW_BP - K + 1 + 2  # [CLS] + 195 6-mers + [SEP]


def build_tokenizer(path: Path):
    from transformers import BertTokenizer

    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=K)]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + kmers)}
    hf = BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=MAX_TOKENS)
    hf.save_pretrained(path)
    return dnallm.DNATokenizer.from_hf(hf, max_tokens=MAX_TOKENS)


def token_ids(tokenizer, seqs: list[str]) -> np.ndarray:
    """``(n, MAX_TOKENS)`` ids, [PAD]-filled; every training peak is 200 bp so no padding is needed in practice."""
    out = np.full((len(seqs), MAX_TOKENS), tokenizer.pad_id, dtype=np.int64)
    for i, seq in enumerate(seqs):
        ids = tokenizer.encode(seq).input_ids
        out[i, : len(ids)] = ids
    return out


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def train(args: argparse.Namespace, out: Path) -> dict:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train_set, val_set, _ = peaks_data.load(args.seed)
    tokenizer = build_tokenizer(out)
    forward = torch.from_numpy(token_ids(tokenizer, train_set.seqs))
    reverse = torch.from_numpy(token_ids(tokenizer, [peaks_data.reverse_complement(s) for s in train_set.seqs]))
    labels = torch.from_numpy(train_set.labels)
    val_ids = torch.from_numpy(token_ids(tokenizer, val_set.seqs))

    config = BertConfig(
        vocab_size=len(tokenizer.vocab), hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=256, max_position_embeddings=MAX_TOKENS, pad_token_id=0,
        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
        num_labels=2, id2label=dict(peaks_data.LABELS), label2id={v: k for k, v in peaks_data.LABELS.items()},
    )
    # read by dnallm at load: records far from this length get a counted warning (dnallm/inference.py)
    lengths = [len(s) for s in train_set.seqs]
    config.dnallm_trained_length_bp = [min(lengths), max(lengths)]
    model = BertForSequenceClassification(config)
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = -(-len(labels) // args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    warmup = steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / (total_steps - warmup)))
    )
    generator = torch.Generator().manual_seed(args.seed)
    best = {"val_auroc": -1.0}
    history = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        flip = torch.rand(len(labels), generator=generator) < 0.5  # reverse-complement augmentation
        losses = []
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            ids = torch.where(flip[idx, None], reverse[idx], forward[idx])
            loss = model(input_ids=ids, attention_mask=(ids != 0).long(), labels=labels[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        model.eval()
        with torch.inference_mode():
            logits = torch.cat([model(input_ids=val_ids[i : i + 256]).logits for i in range(0, len(val_ids), 256)])
        val_loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(val_set.labels)).item()
        val_auc = auroc(val_set.labels, logits.softmax(-1)[:, 1].numpy())
        elapsed = time.perf_counter() - start
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
                        "val_auroc": val_auc, "minutes": elapsed / 60})
        print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  val loss {val_loss:.4f}  val AUROC {val_auc:.4f}  "
              f"{elapsed / 60:.1f} min", flush=True)
        if val_auc > best["val_auroc"]:
            best = {"val_loss": val_loss, "val_auroc": val_auc, "epoch": epoch}
            model.save_pretrained(out)
        elif epoch - best["epoch"] >= args.patience:
            print(f"early stop: no better validation AUROC for {args.patience} epochs")
            break
    return {
        "parameters": n_params,
        "best_epoch": best["epoch"],
        "val_auroc": best["val_auroc"],
        "val_loss": best["val_loss"],
        "epochs_run": len(history),
        "train_minutes": (time.perf_counter() - start) / 60,
        "history": history,
    }


def attention_ratios(out: Path, test: peaks_data.Split) -> dict:
    """Mean per-bp [CLS] attention inside motif occurrences over outside, per layer (heads averaged).

    Oct4 test peaks with the octamer ATGCAAAT (either strand); Mafk test peaks with the MAF core GCTGA(C/G)TCA.
    Token attention from [CLS] is projected to bp with dnallm.attention.project_to_bp.
    """
    from transformers import AutoModelForSequenceClassification

    tokenizer = dnallm.load_tokenizer(out)
    model = AutoModelForSequenceClassification.from_pretrained(out, attn_implementation="eager").eval()
    motifs = {
        "octamer ATGCAAAT in Oct4 peaks": (1, "(?=(" + "|".join(peaks_data.OCTAMER) + "))", 8),
        "MAF core GCTGA(C/G)TCA in Mafk peaks": (0, peaks_data.MAF_CORE, 9),
    }
    result = {}
    for name, (label, pattern, width) in motifs.items():
        inside: dict[int, list[float]] = {}
        outside: dict[int, list[float]] = {}
        n_peaks = 0
        for seq, y in zip(test.seqs, test.labels):
            hits = [m.start() for m in re.finditer(pattern, seq)]
            if y != label or not hits:
                continue
            n_peaks += 1
            mask = np.zeros(len(seq), dtype=bool)
            for h in hits:
                mask[h : h + width] = True
            enc = tokenizer.encode(seq)
            with torch.inference_mode():
                attentions = model(input_ids=torch.as_tensor(enc.input_ids)[None], output_attentions=True).attentions
            for layer, att in enumerate(attentions):
                from_cls = att[0, :, 0, :].mean(0).numpy()  # heads averaged, query = [CLS]
                per_bp = project_to_bp(from_cls, enc.spans, len(seq))
                inside.setdefault(layer, []).extend(per_bp[mask])
                outside.setdefault(layer, []).extend(per_bp[~mask])
        result[name] = {
            "peaks": n_peaks,
            "ratio_per_layer": [float(np.mean(inside[i]) / np.mean(outside[i])) for i in sorted(inside)],
        }
    return result


def evaluate(out: Path) -> dict:
    """Test figures through the public path: DNAInference on the saved model directory."""
    from sklearn.metrics import accuracy_score

    _, _, test = peaks_data.load()
    inf = dnallm.DNAInference(out)
    df = inf.predict(list(zip(test.ids, test.seqs)))
    assert df["id"].tolist() == test.ids
    p = df["Oct4"].to_numpy()
    return {
        "test_auroc": auroc(test.labels, p),
        "test_accuracy": float(accuracy_score(test.labels, p >= 0.5)),
        "test_peaks": len(test.ids),
        "attention": attention_ratios(out, test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--card-only", action="store_true",
                        help="rewrite README.md from the metrics.json already in --out, without training")
    args = parser.parse_args()
    if args.card_only:
        metrics = json.loads((args.out / "metrics.json").read_text())
        (args.out / "README.md").write_text(model_card(metrics))
        return
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    training = train(args, args.out)
    metrics = {"training": training, **evaluate(args.out)}
    metrics["baseline"] = baseline_kmer_logreg.run(args.seed)
    metrics["size_bytes"] = (args.out / "model.safetensors").stat().st_size
    metrics["command"] = " ".join(["python examples/train_demo_model.py", *sys.argv[1:]])
    metrics["settings"] = {k: getattr(args, k) for k in ("lr", "batch_size", "dropout", "patience", "epochs", "seed")}
    metrics["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads, "
                          f"torch {torch.__version__}, Python {platform.python_version()}")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (args.out / "README.md").write_text(model_card(metrics))
    for path in args.out.iterdir():  # safetensors writes 0600; an installed model must be readable by all users
        path.chmod(0o644)
    print(json.dumps({k: v for k, v in metrics.items() if k != "training"}, indent=2))
    print(f"parameters {training['parameters']:,}; {metrics['size_bytes'] / 1e6:.2f} MB; "
          f"trained in {training['train_minutes']:.1f} min")


def model_card(m: dict) -> str:
    t = m["training"]
    b = m["baseline"]
    rows = "\n".join(
        f"| {name} | {a['peaks']} | " + " | ".join(f"{r:.2f}" for r in a["ratio_per_layer"]) + " |"
        for name, a in m["attention"].items()
    )
    return f"""# demo-oct4-mafk: dnallm's embedded demo model

A small DNABERT-style transformer that tells human **Oct4** ChIP-seq peaks from **Mafk** peaks. It ships inside
dnallm so that `dnallm predict` and `DNAInference()` work offline on a fresh machine. **A demo, not a research
model**: it knows two transcription factors' peaks in one cell context and nothing else; its probabilities say
"looks more like an Oct4 peak or a Mafk peak", not whether a sequence is bound at all.

| | |
|---|---|
| architecture | BERT for sequence classification: 2 layers, hidden 128, 4 heads, feed-forward 256 |
| tokens | overlapping 6-mers (DNABERT vocabulary, 4,101 tokens); 197 tokens = one 200 bp window |
| labels | 0 = Mafk, 1 = Oct4 (`predict` columns `Mafk`, `Oct4`) |
| parameters | {t['parameters']:,} |
| weights | model.safetensors, {m['size_bytes'] / 1e6:.2f} MB, float32 |
| license | Apache-2.0, as dnallm |

## Data

3,897 Oct4 and 3,900 Mafk peak sequences of 200 bp (human, janggu 0.10.2 package resources; see
examples/data/README.md), split 90/10 into train and validation with a fixed seed; 100 + 100 held-out test peaks.

## Training

Command: `{m['command']}`, on {m['machine']}.

AdamW (lr {m['settings']['lr']}, weight decay 0.01, one epoch of linear warm-up then linear decay), batch
{m['settings']['batch_size']}, dropout {m['settings']['dropout']}, each training peak reverse-complemented with
probability 0.5 per epoch; the epoch with the best validation AUROC is kept (patience
{m['settings']['patience']} epochs). Best epoch {t['best_epoch']} of {t['epochs_run']}; training took
{t['train_minutes']:.1f} minutes.

## Results on the 200 held-out test peaks

| model | test AUROC | test accuracy |
|---|---:|---:|
| this model (dnallm predict) | {m['test_auroc']:.3f} | {m['test_accuracy']:.3f} |
| 5-mer logistic regression, both strands (same split, same run) | {b['test_auroc']:.3f} | {b['test_accuracy']:.3f} |

Validation AUROC {t['val_auroc']:.3f}.

## What its attention looks at

Mean per-bp attention from [CLS] (heads averaged; token attention spread over the 6 bases of each k-mer, a base
taking the mean of the k-mers covering it) inside motif occurrences divided by outside them:

| motif | test peaks | layer 1 | layer 2 |
|---|---:|---:|---:|
{rows}

## Limits

- Trained on 200 bp peaks: longer inputs are cut into 200 bp windows and averaged, which the model never saw.
  config.json says so (`"dnallm_trained_length_bp": [200, 200]`), and dnallm warns, counted once per run, about
  records under 100 bp or over 400 bp: the probabilities it gives them (0.998 Oct4 for a 16 bp input) mean nothing.
- Two factors only; a random genomic sequence still gets an Oct4 or Mafk probability that sums to 1.
- Human peaks from one source; no claim about other species or assays.

Regenerate everything here, the numbers included, with the command above (`pip install "dnallm[train]"`).
"""


if __name__ == "__main__":
    main()
