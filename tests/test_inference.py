"""DNAInference on tiny real models: predict equals a direct forward of the same model on the same tokens,
whatever the batching; one row per record in input order; BigBird stays block-sparse for long inputs."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from dnallm import DNAInference, DnallmError, read_fasta, testing
from dnallm.bigbird import full_attention_limit as bigbird_full_attention_limit

# (builder family, head): the models the issue names
CASES = {
    "bert-6mer-classifier": ("overlapping_kmer", "classification"),
    "esm-6mer-classifier": ("nonoverlapping_kmer", "classification"),
    "esm-6mer-mlm": ("nonoverlapping_kmer", "masked_lm"),
    "bert-bpe-regressor": ("bpe", "regression"),
    "bigbird-char-classifier": ("single_nucleotide", "classification"),
}


@pytest.fixture(scope="module")
def case_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference-models")
    return {name: testing.BUILDERS[family](root / name, head=head) for name, (family, head) in CASES.items()}


@pytest.fixture(scope="module")
def mixed_records(data_dir):
    """Real DNA of mixed lengths: peaks (200 bp), genome slices from 7 bp to 3 kb, an N run."""
    (genome,) = read_fasta(data_dir / "c_diphtheriae_NCTC11397.fna.gz")
    peaks = list(read_fasta(data_dir / "oct4_test.fa"))[:6]
    rng = random.Random(1)
    records = {p.id: p.seq for p in peaks}
    for i, length in enumerate([7, 31, 64, 150, 500, 1200, 3000]):
        start = rng.randrange(len(genome.seq) - length)
        records[f"slice{i}_{length}"] = genome.seq[start : start + length]
    records["with_n"] = genome.seq[1000:1100] + "N" * 25 + genome.seq[2000:2090]
    return records


def reference(model, inf: DNAInference, records: dict[str, str], limit: int | None = None) -> np.ndarray:
    """Each window alone through `model` (no padding, no batching), softmax / value / log-prob, mean per record."""
    rows = []
    with torch.inference_mode():
        for rid, seq in records.items():
            outputs = []
            for window in inf.tokenizer.windows(seq, record_id=rid):
                ids = torch.as_tensor(window.input_ids)[None]
                model_for_window = model if limit is None or len(window) > limit else model.full
                out = model_for_window(input_ids=ids)
                logits = out.logits.float()
                if inf.head == "classification":
                    outputs.append(logits.softmax(-1)[0].numpy())
                elif inf.head == "regression":
                    outputs.append(logits[0].numpy())
                else:  # masked LM: mean log p(observed token) over sequence tokens
                    logp = logits.log_softmax(-1)[0, torch.arange(ids.shape[1]), ids[0]]
                    content = torch.as_tensor(~window.special_mask)
                    outputs.append(np.array([logp[content].mean().item()]))
            rows.append(np.mean(outputs, axis=0))
    return np.array(rows)


def load_reference(path, head, bigbird=False):
    cls = AutoModelForMaskedLM if head == "masked_lm" else AutoModelForSequenceClassification
    model = cls.from_pretrained(path).eval()
    if bigbird:  # short windows run full attention: a separate copy, so the sparse one is never switched
        model.full = cls.from_pretrained(path, attention_type="original_full").eval()
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_predict_equals_direct_forward(case_dirs, mixed_records, case):
    family, head = CASES[case]
    inf = DNAInference(case_dirs[case])
    assert inf.head == head
    bigbird = family == "single_nucleotide"
    model = load_reference(case_dirs[case], head, bigbird)
    limit = bigbird_full_attention_limit(model.config) if bigbird else None
    expected = reference(model, inf, mixed_records, limit)

    df = inf.predict(mixed_records)
    assert list(df["id"]) == list(mixed_records)
    assert list(df.columns[:3]) == ["id", "length", "n_windows"]
    assert list(df["length"]) == [len(s) for s in mixed_records.values()]
    assert df["n_windows"].max() > 1  # long records were windowed, not truncated
    got = df[inf.output_columns].to_numpy()
    assert np.abs(got - expected).max() <= 1e-5
    assert got.std(axis=0).max() > 1e-3  # outputs depend on the input (large init)

    # batch invariance: one window per forward pass vs everything in few batches
    tiny = DNAInference(case_dirs[case], max_batch_tokens=1).predict(mixed_records)
    large = DNAInference(case_dirs[case], max_batch_tokens=1_000_000).predict(mixed_records)
    diff_tiny = np.abs(tiny[inf.output_columns].to_numpy() - got).max()
    diff_large = np.abs(large[inf.output_columns].to_numpy() - got).max()
    assert diff_tiny <= 1e-5 and diff_large <= 1e-5
    print(f"\n{case}: {len(df)} records, {df['n_windows'].sum()} windows; max |predict - direct forward| = "
          f"{np.abs(got - expected).max():.1e}; budget 1 vs default: {diff_tiny:.1e}; 1e6 vs default: {diff_large:.1e}")
    if bigbird:
        assert inf.last_run.attention_types.keys() <= {"block_sparse", "original_full"}


def test_columns_per_head(case_dirs):
    assert DNAInference(case_dirs["bert-6mer-classifier"]).output_columns == ["Mafk", "Oct4"]
    assert DNAInference(case_dirs["bert-bpe-regressor"]).output_columns == ["value"]
    assert DNAInference(case_dirs["esm-6mer-mlm"]).output_columns == ["mean_log_prob"]


def test_thousand_records_one_row_each_in_order(case_dirs, data_dir):
    (genome,) = read_fasta(data_dir / "c_diphtheriae_NCTC11397.fna.gz")
    rng = random.Random(7)
    records = []
    for i in range(1000):
        length = rng.choice([rng.randint(6, 130), rng.randint(131, 2000)])  # 131 bp = one window of this model
        start = rng.randrange(len(genome.seq) - length)
        records.append((f"r{rng.randrange(10**9)}_{i}", genome.seq[start : start + length]))
    inf = DNAInference(case_dirs["bert-6mer-classifier"], max_batch_tokens=2048)
    df = inf.predict(records)
    assert len(df) == 1000
    assert list(df["id"]) == [rid for rid, _ in records]
    assert list(df["length"]) == [len(s) for _, s in records]
    assert (df["n_windows"] > 1).sum() > 400
    assert np.allclose(df[["Mafk", "Oct4"]].sum(axis=1), 1.0)
    assert inf.last_run.records == 1000 and inf.last_run.windows == df["n_windows"].sum()
    # the input order is restored although batches were sorted by length
    shuffled = records[::-1]
    again = inf.predict(shuffled)
    assert list(again["id"]) == [rid for rid, _ in shuffled]
    merged = df.set_index("id").loc[again["id"], ["Mafk", "Oct4"]].to_numpy()
    assert np.abs(merged - again[["Mafk", "Oct4"]].to_numpy()).max() <= 1e-5


def test_progress_moves_batch_by_batch_and_counts_each_record_once(case_dirs, monkeypatch):
    from dnallm.progress import Progress

    shown: list[int] = []
    update = Progress.update

    def recording(self, n=1):
        out = update(self, n)
        shown.append(self.n)
        return out

    monkeypatch.setattr(Progress, "update", recording)  # the bar dnallm draws, whichever test imported it first
    records = testing.genome_windows(150, 20, 700, seed=3, prefix="p")  # up to 6 windows of this model each
    inf = DNAInference(case_dirs["bert-6mer-classifier"], max_batch_tokens=512)
    inf.chunk_batches = 4
    tokens = sum(len(w) for _, seq in records for w in inf.tokenizer.windows(seq))
    most_chunks = math.ceil(tokens / (inf.chunk_batches * inf.max_batch_tokens))  # each chunk holds >= that budget
    df = inf.predict(records, progress=True)
    assert len(df) == 150
    assert shown == sorted(shown) and shown[-1] == 150  # never backwards, ends at every record, none twice
    # the bar moves while a chunk's batches run, not only when a whole chunk is done
    assert len(set(shown)) > 2 * most_chunks


def test_per_window_rows_have_bp_coordinates(case_dirs):
    inf = DNAInference(case_dirs["bert-6mer-classifier"])
    seq = "ACGTTGCAATGCAAAT" * 40  # 640 bp
    windows = inf.predict({"long": seq, "short": seq[:50]}, per_window=True)
    long = windows[windows["id"] == "long"]
    assert list(long["window"]) == list(range(len(long))) and (long["n_windows"] == len(long)).all()
    assert long["start"].iloc[0] == 0 and long["end"].iloc[-1] == 640
    assert (long["start"].iloc[1:].to_numpy() < long["end"].iloc[:-1].to_numpy()).all()  # overlapping
    record = inf.predict({"long": seq})
    assert np.allclose(record[["Mafk", "Oct4"]].to_numpy()[0], long[["Mafk", "Oct4"]].mean().to_numpy())


def test_embed_mean_ignores_padding_and_specials(case_dirs):
    inf = DNAInference(case_dirs["esm-6mer-classifier"])
    records = {"a": "ACGTACGTTTGACCA" * 3, "b": "GGCATTACAGGA"}
    ids, vectors = inf.embed(records)
    assert ids == ["a", "b"] and vectors.shape == (2, 32) and vectors.dtype == np.float32
    base = inf.model.base_model
    with torch.inference_mode():
        for row, seq in enumerate(records.values()):
            enc = inf.tokenizer.encode(seq)
            hidden = base(input_ids=torch.as_tensor(enc.input_ids)[None]).last_hidden_state[0]
            expected = hidden[torch.as_tensor(~enc.special_mask)].mean(0).numpy()
            assert np.abs(vectors[row] - expected).max() <= 1e-5
            cls = inf.embed({"x": seq}, pooling="cls")[1][0]
            assert np.abs(cls - hidden[0].numpy()).max() <= 1e-5
    alone = inf.embed({"b": records["b"]})[1]
    assert np.abs(alone[0] - vectors[1]).max() <= 1e-5  # padding next to the longer "a" changed nothing


def test_encoder_has_nothing_to_predict(tmp_path):
    path = testing.build_dnabert(tmp_path / "encoder", head="encoder")
    inf = DNAInference(path)
    assert inf.head == "encoder"
    with pytest.raises(DnallmError, match="bare encoder without a prediction head.*use embed"):
        inf.predict(["ACGTACGTAC"])
    assert inf.embed(["ACGTACGTAC"])[1].shape == (1, 32)


def test_user_errors(case_dirs, tmp_path):
    with pytest.raises(DnallmError, match="no such model directory"):
        DNAInference(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DnallmError, match="no config.json"):
        DNAInference(tmp_path / "empty")
    with pytest.raises(DnallmError, match="unknown model name 'dnabert6'; did you mean 'dnabert-6'"):
        DNAInference("dnabert6")
    with pytest.raises(DnallmError, match="runs Python code from its repository.*trust_remote_code=True"):
        DNAInference("hyenadna-tiny-1k")
    inf = DNAInference(case_dirs["bert-6mer-classifier"])
    with pytest.raises(DnallmError, match="record 'tiny': 4 bp is shorter than one 6-mer"):
        inf.predict({"ok": "ACGTACGT", "tiny": "ACGT"})
    with pytest.raises(DnallmError, match="unknown pooling"):
        inf.embed(["ACGTACGT"], pooling="sum")


# ---------------------------------------------------------------------------------------------------------------
# BigBird


def sparse_or_full(model) -> list[str]:
    """Record which attention class each forward pass of layer 0 actually ran."""
    seen: list[str] = []
    layer = model.base_model.encoder.layer[0].attention
    layer.register_forward_pre_hook(lambda module, args: seen.append(type(module.self).__name__))
    return seen


def test_bigbird_short_long_short_stays_block_sparse(case_dirs, data_dir):
    path = case_dirs["bigbird-char-classifier"]
    (lam,) = read_fasta(data_dir / "lambda_phage.fa.gz")
    short, long = {"short": lam.seq[:100]}, {"long": lam.seq[5000:5900]}  # 102 and 902 tokens; limit 144

    fresh = AutoModelForSequenceClassification.from_pretrained(path).eval()
    long_ids = torch.as_tensor(DNAInference(path).tokenizer.encode(long["long"]).input_ids)[None]
    with torch.inference_mode():
        expected_long = fresh(input_ids=long_ids).logits.softmax(-1)[0].numpy()
    assert fresh.config.attention_type == "block_sparse"

    inf = DNAInference(path)
    seen = sparse_or_full(inf.model)
    calls = []
    for batch in (short, long, short, long, short):
        seen.clear()
        df = inf.predict(batch)
        values = df[["Mafk", "Oct4"]].to_numpy()[0]
        calls.append((next(iter(batch)), dict(inf.last_run.attention_types), set(seen), values))
    for name, attention, ran, values in calls:
        print(f"\n{name}: attention {attention}, layer 0 ran {sorted(ran)}, p = {values.round(6).tolist()}")
        if name == "long":
            assert attention == {"block_sparse": 1}
            assert ran == {"BigBirdBlockSparseAttention"}
            assert np.abs(values - expected_long).max() <= 1e-5
        else:
            assert attention == {"original_full": 1}
            assert ran == {"BigBirdSelfAttention"}
    assert inf.model.base_model.attention_type == "block_sparse"  # restored after every call

    # what dnallm prevents: plain transformers switches for good after one short input
    plain = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tok = inf.tokenizer
    with torch.inference_mode():
        plain(input_ids=torch.as_tensor(tok.encode(short["short"]).input_ids)[None])
        after = plain(input_ids=torch.as_tensor(tok.encode(long["long"]).input_ids)[None]).logits.softmax(-1)[0].numpy()
    assert plain.base_model.attention_type == "original_full"
    assert np.abs(after - expected_long).max() > 1e-4


def test_bigbird_batches_keep_one_block_layout(case_dirs):
    """Inputs of different block counts never share a block-sparse batch, so padding cannot move the last
    global block; all results equal each input run alone."""
    path = case_dirs["bigbird-char-classifier"]
    rng = random.Random(3)
    lengths = [150, 170, 200, 260, 700, 1000]
    records = {f"s{i}": "".join(rng.choice("ACGT") for _ in range(n)) for i, n in enumerate(lengths)}
    inf = DNAInference(path, max_batch_tokens=100_000)
    together = inf.predict(records)
    assert inf.last_run.attention_types == {"block_sparse": inf.last_run.batches}
    for rid, seq in records.items():
        alone = inf.predict({rid: seq})
        in_batch = together.loc[together.id == rid, ["Mafk", "Oct4"]].to_numpy()
        assert np.abs(alone[["Mafk", "Oct4"]].to_numpy() - in_batch).max() <= 1e-5


def test_predict_accepts_every_input_shape(case_dirs, data_dir):
    inf = DNAInference(case_dirs["bert-6mer-classifier"])
    path = data_dir / "phiX174.fa"
    from_file = inf.predict(str(path))
    assert from_file["id"].tolist() == ["phix"] and from_file["length"].tolist() == [5386]
    assert inf.predict("ACGTACGTACGT")["id"].tolist() == ["seq0"]
    assert inf.predict(["ACGTACGTAC", "GGGGCCCCAA"])["id"].tolist() == ["seq0", "seq1"]
    frame = inf.predict(iter([("x", "ACGTACGTAC")]))
    assert isinstance(frame, pd.DataFrame) and frame["id"].tolist() == ["x"]


def test_bigbird_predict_builds_no_dense_attention_map(case_dirs):
    """transformers' block-sparse BigBird fills a dense (heads x tokens x tokens) map in every forward pass;
    predict has it allocated on the meta device (no memory, no work), attentions() still gets the real one."""
    path = case_dirs["bigbird-char-classifier"]
    inf = DNAInference(path)
    devices = []
    layer = inf.model.base_model.encoder.layer[0].attention
    layer.register_forward_hook(lambda module, args, output: devices.append(output[1].device.type))
    seq = "ACGT" * 200  # 802 tokens: block-sparse
    predicted = inf.predict({"long": seq})
    assert inf.last_run.attention_types == {"block_sparse": 1} and devices == ["meta"]
    devices.clear()
    amap = inf.attentions(seq, layers=0)
    assert devices == [inf.device.type] and np.allclose(amap.weights.sum(-1), 1, atol=1e-5)
    fresh = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        expected = fresh(input_ids=torch.as_tensor(inf.tokenizer.encode(seq).input_ids)[None]).logits.softmax(-1)
    assert np.abs(predicted[["Mafk", "Oct4"]].to_numpy() - expected.numpy()).max() <= 1e-5
