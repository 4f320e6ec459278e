"""Tokenizer families: ids equal the model's own tokenizer, every token's span holds exactly its bases, and
windows over long records cover every base. Runs on tiny real models of all four families and on real DNA."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoModelForSequenceClassification

import dnallm
from dnallm import DNATokenizer, InputError, TokenizerError, detect_family, load_tokenizer, read_fasta
from dnallm.tokenization import max_tokens_from_config
from tests.support import FAMILIES

HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def genome(data_dir) -> str:
    (rec,) = read_fasta(data_dir / "c_diphtheriae_NCTC11397.fna.gz")
    return rec.seq


@pytest.fixture(scope="module")
def peaks(data_dir) -> list[str]:
    return [r.seq for f in ("oct4_test.fa", "mafk_test.fa") for r in read_fasta(data_dir / f)]


def token_texts(tok: DNATokenizer, ids) -> list[str]:
    """Each token's text from the vocabulary, without word-piece marks."""
    return [t.removeprefix("##") for t in tok.hf.convert_ids_to_tokens([int(i) for i in ids])]


def check_spans(tok: DNATokenizer, seq: str, ids: np.ndarray, spans: np.ndarray) -> None:
    """The property of the issue: every token's span text equals the bases it encodes."""
    assert spans.shape == (len(ids), 2)
    unk = tok.hf.unk_token
    for text, (start, end) in zip(token_texts(tok, ids), spans.tolist()):
        bases = seq[start:end]
        if text == unk:  # only bases the vocabulary cannot spell become the unknown token
            assert bases not in tok.vocab, (bases, start)
        else:
            assert text == bases, (text, bases, start)
    if tok.family == "overlapping_kmer":
        assert np.array_equal(spans[:, 0], np.arange(len(seq) - tok.k + 1))
        assert np.array_equal(spans[:, 1] - spans[:, 0], np.full(len(ids), tok.k))
    else:  # the spans tile the sequence exactly
        assert spans[0, 0] == 0 and spans[-1, 1] == len(seq)
        assert np.array_equal(spans[1:, 0], spans[:-1, 1])


def test_family_detection(tokenizers):
    for family, tok in tokenizers.items():
        assert tok.family == family
        assert detect_family(tok.hf)[0] == family
    assert tokenizers["overlapping_kmer"].k == 6 and tokenizers["nonoverlapping_kmer"].k == 6


def test_loaded_limits_follow_the_config(tokenizers, model_dirs):
    from transformers import AutoConfig

    assert tokenizers["overlapping_kmer"].max_tokens == 128
    assert tokenizers["nonoverlapping_kmer"].max_tokens == 64  # ESM: max_position_embeddings - 2
    assert max_tokens_from_config(AutoConfig.from_pretrained(model_dirs["nonoverlapping_kmer"])) == 64
    assert tokenizers["single_nucleotide"].max_tokens == 1024


@pytest.mark.parametrize("family", FAMILIES)
def test_real_peaks_match_the_models_own_tokenizer(tokenizers, peaks, family):
    tok = tokenizers[family]
    for seq in peaks:
        ids, spans = tok.tokenize(seq)
        full = np.concatenate([tok.prefix_ids, ids, tok.suffix_ids]).tolist()
        assert full == tok.hf_reference(seq)
        check_spans(tok, seq, ids, spans)


@pytest.mark.parametrize("family", FAMILIES)
def test_property_spans_hold_their_bases(tokenizers, family):
    tok = tokenizers[family]

    @HYPOTHESIS
    @given(seq=st.text(alphabet="ACGTN", min_size=6, max_size=400))
    def run(seq):
        ids, spans = tok.tokenize(seq)
        check_spans(tok, seq, ids, spans)
        if family != "bpe":  # the lookup tables against the tokenizer itself, N runs included
            assert np.concatenate([tok.prefix_ids, ids, tok.suffix_ids]).tolist() == tok.hf_reference(seq)

    run()


@pytest.mark.parametrize("family", FAMILIES)
def test_property_windows_cover_every_base_of_real_records(tokenizers, genome, family):
    """Windows over real genome slices up to 50 kb: every base covered, each window within the model's
    limit and holding exactly the record's tokens there."""
    tok = tokenizers[family]

    @settings(max_examples=12, deadline=None)
    @given(
        start=st.integers(0, len(genome) - 50_000),
        length=st.integers(tok.k or 1, 50_000),
        overlap=st.one_of(st.none(), st.integers(0, tok.max_content_tokens - 1)),
    )
    def run(start, length, overlap):
        seq = genome[start : start + length]
        ids, spans = tok.tokenize(seq)
        windows = tok.windows(seq, record_id="slice", overlap=overlap)
        covered = np.zeros(length, dtype=bool)
        position = 0
        for i, w in enumerate(windows):
            assert (w.record_id, w.window, w.n_windows) == ("slice", i, len(windows))
            assert len(w) <= tok.max_tokens
            content = ~w.special_mask
            assert w.special_mask.sum() == tok.n_special
            assert np.array_equal(w.input_ids[~content], np.concatenate([tok.prefix_ids, tok.suffix_ids]))
            # the window's tokens are the record's tokens at the window's place
            first = int(np.flatnonzero((spans == w.spans[content][0]).all(axis=1))[0])
            assert np.array_equal(w.input_ids[content], ids[first : first + content.sum()])
            assert w.start == w.spans[content, 0].min() and w.end == w.spans[content, 1].max()
            assert first >= position  # windows come in record order
            position = first
            for s, e in w.spans[content]:
                covered[s:e] = True
        assert covered.all()
        assert windows[0].start == 0 and windows[-1].end == length

    run()


def test_windows_of_the_whole_lambda_genome(tokenizers, data_dir):
    (rec,) = read_fasta(data_dir / "lambda_phage.fa.gz")
    for family, tok in tokenizers.items():
        windows = tok.windows(rec)
        covered = np.zeros(len(rec), dtype=bool)
        for w in windows:
            for s, e in w.spans[~w.special_mask]:
                covered[s:e] = True
            if family != "bpe":  # local tokenizers: a window is exactly what the tokenizer gives for its bases
                assert w.input_ids.tolist() == tok.hf_reference(rec.seq[w.start : w.end])
        assert covered.all(), family
        assert all(w.record_id == rec.id for w in windows)
        print(family, len(rec), "bp ->", len(windows), "windows")


def test_window_arithmetic_for_overlapping_kmers(tokenizers):
    tok = tokenizers["overlapping_kmer"]  # 128 tokens: [CLS] + 126 6-mers + [SEP] = 131 bp per window
    seq = "ACGT" * 100  # 400 bp -> 395 k-mers
    windows = tok.windows(seq, overlap=0)
    assert [(w.start, w.end) for w in windows] == [(0, 131), (126, 257), (252, 383), (269, 400)]
    assert tok.windows(seq[:131])[0].n_windows == 1
    for overlap in (None, 0, 60, 125):  # a window centred on a region counts the record's windows alike
        assert tok.window_at(seq, 150, 200, overlap=overlap).n_windows == len(tok.windows(seq, overlap=overlap))
    assert len(tok.windows(seq[:132])) == 2


def test_encode_refuses_to_truncate(tokenizers):
    tok = tokenizers["overlapping_kmer"]
    assert len(tok.encode("A" * 131, record_id="fits")) == 128
    message = r"record 'long': 132 bp make 129 tokens, more than the model's 128; use windows"
    with pytest.raises(InputError, match=message):
        tok.encode("A" * 132, record_id="long")


def test_short_and_empty_sequences(tokenizers):
    with pytest.raises(InputError, match="record 'tiny': 5 bp is shorter than one 6-mer"):
        tokenizers["overlapping_kmer"].encode("ACGTA", record_id="tiny")
    for tok in tokenizers.values():
        with pytest.raises(InputError, match="empty sequence"):
            tok.encode("")
    enc = tokenizers["nonoverlapping_kmer"].encode("ACG")
    assert [enc.token_span(i) for i in range(len(enc))] == [None, (0, 1), (1, 2), (2, 3), None]


def test_windows_reach_the_model(tokenizers, model_dirs, genome):
    """Window ids are valid input for the real model, and its output depends on the sequence."""
    for family, tok in tokenizers.items():
        model = AutoModelForSequenceClassification.from_pretrained(model_dirs[family]).eval()
        windows = tok.windows(genome[:3000])
        outputs = []
        with torch.inference_mode():
            for w in windows[:3]:
                logits = model(torch.as_tensor(w.input_ids)[None]).logits
                assert torch.isfinite(logits).all()
                outputs.append(logits.softmax(-1)[0, 1].item())
        assert max(outputs) - min(outputs) > 1e-3, (family, outputs)


# ---------------------------------------------------------------------------------------------------------------
# the tokenizer and the family must fit; the known traps are caught


def test_lowercasing_kmer_tokenizer_is_caught_and_fixed(tmp_path):
    """transformers 5's BertTokenizer lower-cases by default: every upper-case k-mer would become [UNK]."""
    import itertools

    from transformers import BertTokenizer

    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=4)]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + kmers)}
    lowering = BertTokenizer(vocab=vocab)  # do_lower_case=True, the default
    assert lowering("ACGT CGTA")["input_ids"] == [2, 1, 1, 3]  # the trap itself
    with pytest.raises(TokenizerError, match="lower-cases its input; load it with do_lower_case=False"):
        DNATokenizer.from_hf(lowering)
    lowering.save_pretrained(tmp_path)
    tok = load_tokenizer(tmp_path, max_tokens=64)
    assert tok.family == "overlapping_kmer" and tok.k == 4
    assert tok.encode("ACGTA").input_ids.tolist() == [2, vocab["ACGT"], vocab["CGTA"], 3]


def test_wrong_family_or_k_is_refused(tokenizers):
    dnabert = tokenizers["overlapping_kmer"].hf
    with pytest.raises(TokenizerError, match="holds none of the 1024 5-mers"):
        DNATokenizer.from_hf(dnabert, family="overlapping_kmer", k=5)
    with pytest.raises(TokenizerError, match="does not reproduce this tokenizer"):
        DNATokenizer.from_hf(dnabert, family="nonoverlapping_kmer", k=6)
    with pytest.raises(TokenizerError, match="lacks single-base tokens"):
        DNATokenizer.from_hf(dnabert, family="single_nucleotide")
    with pytest.raises(TokenizerError, match="does not reproduce this tokenizer"):
        DNATokenizer.from_hf(tokenizers["nonoverlapping_kmer"].hf, family="overlapping_kmer", k=6)
    with pytest.raises(TokenizerError, match="unknown tokenizer family"):
        DNATokenizer.from_hf(dnabert, family="kmer")


def test_bpe_that_drops_bases_is_refused(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "A": 1, "C": 2, "G": 3, "T": 4, "AC": 5, "GT": 6}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[("A", "C"), ("G", "T")]))  # no unk: N is dropped
    hf = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    tok = DNATokenizer.from_hf(hf, family="bpe", verify=False)
    assert tok.tokenize("ACGT")[1].tolist() == [[0, 2], [2, 4]]
    message = r"record 'r': the tokens' offsets cover 4 of 5 bp: the tokenizer drops or rewrites bases"
    with pytest.raises(TokenizerError, match=message):
        tok.tokenize("ACNGT", record_id="r")


def test_family_and_k_from_the_registry_name(monkeypatch, tmp_path, model_dirs):
    """A registry name supplies family, k and max_tokens; the files come from the hub id it names."""
    import transformers

    real = transformers.AutoTokenizer.from_pretrained
    seen = []

    def from_hub(source, **kwargs):  # stands in for the hub download; the hub is not reachable here
        seen.append(source)
        return real(model_dirs["overlapping_kmer"], **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_hub)
    tok = load_tokenizer("dnabert-6")
    assert seen[0] == "zhihan1996/DNA_bert_6"
    assert (tok.family, tok.k, tok.max_tokens) == ("overlapping_kmer", 6, 512)


def test_load_errors(tmp_path, model_dirs):
    with pytest.raises(dnallm.RegistryError, match="did you mean 'dnabert-6'"):
        load_tokenizer("dnabert6")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TokenizerError, match="no tokenizer files"):
        load_tokenizer(tmp_path)
    # a registry name whose files are on the hub: here the hub is unreachable (HF_HUB_OFFLINE)
    with pytest.raises(dnallm.ModelLoadError, match="cannot load 'dnabert-6': it is not a local directory and the "
                       "Hugging Face hub did not provide 'zhihan1996/DNA_bert_6'"):
        load_tokenizer("dnabert-6")


def test_gzip_peaks_tokenize_like_plain(tokenizers, data_dir):
    with gzip.open(data_dir / "oct4_train.fa.gz", "rt") as fh:
        head = fh.readline().strip()[1:]
    first = next(read_fasta(data_dir / "oct4_train.fa.gz"))
    assert first.id == head
    ids, _ = tokenizers["bpe"].tokenize(first.seq)
    assert len(ids) > 0
