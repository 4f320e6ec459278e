"""The Oct4-vs-Mafk ChIP-seq peak data of the demo model: one split, shared by training and the baseline.

Training peaks (examples/data/oct4_train.fa.gz, mafk_train.fa.gz) are split 90/10 into train and validation,
stratified by label, with a fixed seed; the held-out test peaks (oct4_test.fa, mafk_test.fa) are used only for the
final figures. Label 1 = Oct4, 0 = Mafk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dnallm

DATA = Path(__file__).resolve().parent / "data"
LABELS = {0: "Mafk", 1: "Oct4"}
OCTAMER = ("ATGCAAAT", "ATTTGCAT")  # Oct4 octamer and its reverse complement
MAF_CORE = r"(?=(GCTGA[CG]TCA|TGA[CG]TCAGC))"  # MAF recognition core, either strand


@dataclass
class Split:
    ids: list[str]
    seqs: list[str]
    labels: np.ndarray


def _read(files: dict[str, int]) -> Split:
    ids, seqs, labels = [], [], []
    for name, label in files.items():
        for rec in dnallm.read_fasta(DATA / name):
            ids.append(rec.id)
            seqs.append(rec.seq)
            labels.append(label)
    return Split(ids, seqs, np.array(labels))


def load(seed: int = 0, validation: float = 0.1) -> tuple[Split, Split, Split]:
    """(train, validation, test)."""
    full = _read({"oct4_train.fa.gz": 1, "mafk_train.fa.gz": 0})
    rng = np.random.default_rng(seed)
    val_mask = np.zeros(len(full.seqs), dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(full.labels == label)
        val_mask[rng.choice(members, size=round(validation * len(members)), replace=False)] = True

    def subset(mask: np.ndarray) -> Split:
        idx = np.flatnonzero(mask)
        return Split([full.ids[i] for i in idx], [full.seqs[i] for i in idx], full.labels[idx])

    test = _read({"oct4_test.fa": 1, "mafk_test.fa": 0})
    return subset(~val_mask), subset(val_mask), test


_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]
