"""Baseline for the demo model: logistic regression on 5-mer counts, on the same split.

    pip install "dnallm[train]"
    python examples/baseline_kmer_logreg.py

Features: the frequencies of the 1,024 5-mers of each peak, counted on both strands (the peaks have no
orientation). The regularisation strength is chosen on the validation split; the figures are on the 200 held-out
test peaks. `train_demo_model.py` runs this same function, so the model and its baseline are measured in one run.
"""

from __future__ import annotations

import numpy as np
import peaks_data


def kmer_frequencies(seqs: list[str], k: int = 5) -> np.ndarray:
    """``(n, 4**k)`` k-mer frequencies of each sequence and its reverse complement (k-mers with N skipped)."""
    codes = np.full(256, 4, dtype=np.int64)
    for i, base in enumerate(b"ACGT"):
        codes[base] = i
    out = np.zeros((len(seqs), 4**k))
    for row, seq in enumerate(seqs):
        for strand in (seq, peaks_data.reverse_complement(seq)):
            c = codes[np.frombuffer(strand.encode(), dtype=np.uint8)]
            n = len(c) - k + 1
            if n <= 0:
                continue
            index = np.zeros(n, dtype=np.int64)
            bad = np.zeros(n, dtype=bool)
            for j in range(k):
                index = index * 4 + np.minimum(c[j : j + n], 3)
                bad |= c[j : j + n] == 4
            out[row] += np.bincount(index[~bad], minlength=4**k)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1)


def run(seed: int = 0) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    train, val, test = peaks_data.load(seed)
    scaler = StandardScaler().fit(kmer_frequencies(train.seqs))
    x_train, x_val, x_test = (scaler.transform(kmer_frequencies(s.seqs)) for s in (train, val, test))
    best = None
    for c in (0.001, 0.01, 0.1, 1.0):
        model = LogisticRegression(C=c, max_iter=5000).fit(x_train, train.labels)
        auc = roc_auc_score(val.labels, model.predict_proba(x_val)[:, 1])
        if best is None or auc > best[0]:
            best = (auc, c, model)
    val_auc, c, model = best
    p_test = model.predict_proba(x_test)[:, 1]
    return {
        "features": "5-mer frequencies, both strands",
        "C": c,
        "val_auroc": float(val_auc),
        "test_auroc": float(roc_auc_score(test.labels, p_test)),
        "test_accuracy": float(accuracy_score(test.labels, p_test >= 0.5)),
    }


if __name__ == "__main__":
    result = run()
    print(f"5-mer logistic regression (C={result['C']}): validation AUROC {result['val_auroc']:.3f}; "
          f"test AUROC {result['test_auroc']:.3f}, accuracy {result['test_accuracy']:.3f}")
