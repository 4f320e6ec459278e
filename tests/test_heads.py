"""Heads as data: pooling="max" embeddings, the head added as one entry of dnallm.heads.HEADS."""

import numpy as np
import torch
from transformers import AutoModel

from dnallm import DNAInference, Record


def test_max_pooling_equals_a_direct_forward_and_takes_the_maximum_over_windows(model_dirs):
    inf = DNAInference(model_dirs["nonoverlapping_kmer"], max_tokens=12)  # 10 sequence tokens (60 bp) a window
    records = {"short": "ACGTACGTTTGACCAGGCATTA", "long": "GATTACACCGGTTAAC" * 12}
    ids, vectors = inf.embed(records, pooling="max")
    assert ids == ["short", "long"] and vectors.shape == (2, inf.model.config.hidden_size)
    direct = AutoModel.from_pretrained(model_dirs["nonoverlapping_kmer"]).eval()  # transformers alone
    for row, (rid, seq) in enumerate(records.items()):
        windows = inf.tokenizer.windows(Record(rid, seq))
        per_window = []
        with torch.inference_mode():
            for w in windows:
                hidden = direct(input_ids=torch.as_tensor(w.input_ids)[None]).last_hidden_state[0]
                per_window.append(hidden[torch.as_tensor(~w.special_mask)].max(0).values.numpy())
        assert (len(windows) > 2) == (rid == "long")
        np.testing.assert_allclose(vectors[row], np.max(per_window, axis=0), atol=1e-5)
    mean = inf.embed(records, pooling="mean")[1]
    assert np.all(vectors >= mean - 1e-6) and np.abs(vectors - mean).max() > 0.05  # max differs from mean
