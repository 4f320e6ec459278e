"""A planted-motif task and a tiny DNABERT-style classifier trained on it in seconds: the ground truth for
attribution and motif discovery (tests and the comparison in docs/attribution.md).

Sequences are uniform random bases; a *planted* one holds one site sampled from a JASPAR motif (default POU5F1,
MA1115.1, the Oct4 octamer) at a random place and strand. The classifier (labels ``background``, ``planted``)
learns to tell them apart, so its output depends on the planted bases, and every method can be scored on how well
its per-bp scores rank the planted site's bases (:func:`site_auroc`).

    from dnallm.planted import planted_task, train_planted
    task = planted_task(n=2000)
    model_dir = train_planted("planted_model", task)

Importing this module imports torch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dnallm.jaspar import BASES, read_jaspar

LABELS = {0: "background", 1: "planted"}
#: the default planted motif: POU5F1 (JASPAR 2022 MA1115.1)
MOTIF_ID = "MA1115.1"


@dataclass(frozen=True)
class PlantedTask:
    """``records[i]`` = (id, seq); ``labels[i]`` 1 for planted; ``sites[i]`` (start, end) of the planted site or
    None; ``motif`` the planted PFM's probabilities ``(width, 4)``."""

    records: list[tuple[str, str]]
    labels: np.ndarray
    sites: list[tuple[int, int] | None]
    motif: np.ndarray

    def split(self, label: int) -> list[tuple[str, str]]:
        return [rec for rec, y in zip(self.records, self.labels) if y == label]


def planted_task(n: int = 2000, length: int = 100, share: float = 0.5, seed: int = 0,
                 motif_id: str = MOTIF_ID) -> PlantedTask:
    """``n`` random sequences of ``length`` bp, a ``share`` of them with one planted site of ``motif_id``."""
    rng = np.random.default_rng(seed)
    pfm = next(m for m in read_jaspar() if m.id == motif_id)
    probabilities = pfm.counts / pfm.counts.sum(1, keepdims=True)
    width = len(probabilities)
    records, labels, sites = [], [], []
    for i in range(n):
        bases = rng.integers(0, 4, length)
        site = None
        if rng.random() < share:
            start = int(rng.integers(0, length - width + 1))
            planted = np.array([rng.choice(4, p=row) for row in probabilities])
            if rng.random() < 0.5:  # the other strand
                planted = 3 - planted[::-1]
            bases[start : start + width] = planted
            site = (start, start + width)
        records.append((f"seq{i}", "".join(BASES[b] for b in bases)))
        labels.append(int(site is not None))
        sites.append(site)
    return PlantedTask(records, np.array(labels), sites, probabilities)


def train_planted(path: str | Path, task: PlantedTask, k: int = 4, steps: int = 1000, seed: int = 0,
                  lr: float = 3e-4) -> Path:
    """Train a 2-layer DNABERT-style classifier (overlapping ``k``-mers) on ``task`` for ``steps`` batches of 64
    (AdamW at ``lr``, warmed up over 100 steps), and save it (config, weights, tokenizer) to ``path``, loadable
    by :class:`dnallm.DNAInference`."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(seed)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    kmers = ["".join(p) for p in itertools.product(BASES, repeat=k)]
    vocab = {t: i for i, t in enumerate(specials + kmers)}
    length = max(len(seq) for _, seq in task.records)
    tokens = length - k + 1 + 2
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=tokens, pad_token_id=0, num_labels=2,
                        id2label=LABELS, label2id={v: i for i, v in LABELS.items()},
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(config)
    ids = torch.tensor([[2] + [vocab[seq[i : i + k]] for i in range(len(seq) - k + 1)] + [3]
                        for _, seq in task.records])
    labels = torch.tensor(task.labels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / 100))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(ids), (64,), generator=generator)
        loss = model(input_ids=ids[batch], labels=labels[batch]).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        warmup.step()
    model.eval()
    path = Path(path)
    model.save_pretrained(path)
    BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=tokens).save_pretrained(path)
    return path


def site_auroc(scores: list[np.ndarray], sites: list) -> float:
    """AUROC of per-bp ``scores`` ranking the bases of the known sites above all other bases of the same records.

    ``sites[i]``: record i's site ``(start, end)``, a list of them, or None (records without a site are left out).
    """
    from scipy.stats import rankdata

    values, truth = [], []
    for track, site in zip(scores, sites):
        spans = [] if site is None else [site] if isinstance(site, tuple) else list(site)
        if not spans:
            continue
        inside = np.zeros(len(track), dtype=bool)
        for start, end in spans:
            inside[start:end] = True
        values.append(np.asarray(track, dtype=float))
        truth.append(inside)
    v, t = np.concatenate(values), np.concatenate(truth)
    ranks = rankdata(v)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def word_sites(seq: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """Every occurrence of any of ``words`` in ``seq`` (upper case; give both strands' spellings), as bp spans."""
    seq = seq.upper()
    spans = set()
    for word in words:
        at = seq.find(word)
        while at >= 0:
            spans.add((at, at + len(word)))
            at = seq.find(word, at + 1)
    return sorted(spans)
