"""Tiny real DNA models built with transformers' own classes, for tests and benchmarks of code built on dnallm.

One builder per tokenizer family (``BUILDERS``): each writes a model directory (config, safetensors weights,
tokenizer files) that loads back through the same path a user's model takes. Weights use
``initializer_range=0.2`` so that outputs depend on the input: with the default 0.02 a random classifier gives
p ~ 0.5 for everything and hides tokenization bugs.

The BPE builders and the genome helpers read real sequences from ``DATA``, the example data of a dnallm source
checkout (examples/data: Oct4 peaks, the C. diphtheriae chromosome); the wheel does not carry them.

    from dnallm.testing import build_dnabert, genome_windows, write_fasta

Importing this module imports torch; ``import dnallm`` does not import it.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import random
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"  # a source checkout's example data

INIT = 0.2
LABELS = {0: "Mafk", 1: "Oct4"}
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _small(head: str = "classification", shape: dict | None = None, **extra) -> dict:
    """A small config; ``head`` = classification (Mafk/Oct4), regression (one value) or masked_lm; ``shape``
    overrides the sizes (hidden_size, num_hidden_layers, ...) for realistic-size benchmarks."""
    labels = dict(LABELS) if head == "classification" else {0: "value"}
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    sizes.update(shape or {})
    return dict(
        **sizes,
        initializer_range=INIT,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        **extra,
    )


def _head_class(family_prefix: str, head: str):
    import transformers

    suffix = {"classification": "ForSequenceClassification", "regression": "ForSequenceClassification",
              "masked_lm": "ForMaskedLM", "encoder": "Model"}[head]
    return getattr(transformers, family_prefix + suffix)


def _save(model, tokenizer, path: Path) -> Path:
    torch.manual_seed(0)
    model.eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_fasta(path: Path, records) -> Path:
    """A FASTA file of ``(id, seq)`` pairs, one line per sequence."""
    with open(path, "w") as fh:
        for rid, seq in records:
            fh.write(f">{rid}\n{seq}\n")
    return path


def peak_sequences(n: int = 400) -> list[str]:
    """Real Oct4 training peaks (upper case), for training the BPE vocabulary."""
    seqs = []
    with gzip.open(DATA / "oct4_train.fa.gz", "rt") as fh:
        for line in fh:
            if not line.startswith(">"):
                seqs.append(line.strip().upper())
                if len(seqs) == n:
                    break
    return seqs


def _bert_style_fast_tokenizer(backend, max_tokens: int):
    """Wrap a `tokenizers` model as BERT-style tokenizers are saved: [CLS] sequence [SEP], BERT's special tokens."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        model_max_length=max_tokens,
    )


def _train_bpe(vocab_size: int, texts):
    """A BPE tokenizer trained with `tokenizers` on DNA texts (BERT's special tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=_SPECIALS, initial_alphabet=list("ACGTN"), show_progress=False
    )
    backend.train_from_iterator(texts, trainer)
    return backend


@functools.cache
def genome() -> str:
    """The C. diphtheriae NCTC11397 chromosome (NZ_LN831026.1, examples/data), upper case, read once."""
    with gzip.open(DATA / "c_diphtheriae_NCTC11397.fna.gz", "rt") as fh:
        return "".join(line.strip() for line in fh if not line.startswith(">")).upper()


def genome_chunks(size: int = 1000) -> list[str]:
    """The C. diphtheriae chromosome in chunks, for training larger BPE vocabularies."""
    seq = genome()
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def genome_windows(n: int, low: int, high: int, seed: int = 0, prefix: str | None = None) -> list[tuple[str, str]]:
    """``n`` real windows of ``low``-``high`` bp at seeded random places of the chromosome, as (id, sequence); ids
    are ``prefix`` + index, or the window's coordinates (``NZ_LN831026.1:start-end``) without a prefix."""
    seq = genome()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.randint(low, high)
        start = rng.randrange(len(seq) - length)
        rid = f"{prefix}{i}" if prefix is not None else f"NZ_LN831026.1:{start}-{start + length}"
        out.append((rid, seq[start : start + length]))
    return out


def build_dnabert(
    path: Path, k: int = 6, max_tokens: int = 128, head: str = "classification", shape: dict | None = None
) -> Path:
    """DNABERT-style: BERT with an overlapping k-mer vocabulary (4^k k-mers + 5 special tokens)."""
    from transformers import BertConfig, BertTokenizer

    torch.manual_seed(0)
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    vocab = {t: i for i, t in enumerate(_SPECIALS + kmers)}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=max_tokens)
    config = BertConfig(
        vocab_size=len(vocab), max_position_embeddings=max_tokens, pad_token_id=0, **_small(head, shape)
    )
    return _save(_head_class("Bert", head)(config), tokenizer, path)


def build_nt(path: Path, max_tokens: int = 64, head: str = "classification") -> Path:
    """Nucleotide-Transformer-style: ESM with non-overlapping 6-mers, single bases and N (as NT's vocabulary)."""
    from transformers import EsmConfig, EsmTokenizer

    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    tokens = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
    tokens += ["".join(p) for p in itertools.product("ACGT", repeat=6)] + list("ACGTN")
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(tokens) + "\n")
    tokenizer = EsmTokenizer(str(vocab_file), model_max_length=max_tokens)
    config = EsmConfig(
        vocab_size=len(tokens),
        max_position_embeddings=max_tokens + 2,  # ESM's positions start after the padding index
        pad_token_id=tokenizer.pad_token_id,
        mask_token_id=tokenizer.mask_token_id,
        position_embedding_type="absolute",
        token_dropout=False,
        **_small(head),
    )
    return _save(_head_class("Esm", head)(config), tokenizer, path)


def build_bpe_bert(
    path: Path, vocab_size: int = 300, max_tokens: int = 64, head: str = "classification", shape: dict | None = None
) -> Path:
    """DNABERT-2-style: BERT with a BPE vocabulary trained with `tokenizers` on real Oct4 peaks."""
    from transformers import BertConfig

    torch.manual_seed(0)
    backend = _train_bpe(vocab_size, peak_sequences())
    tokenizer = _bert_style_fast_tokenizer(backend, max_tokens)
    config = BertConfig(
        vocab_size=backend.get_vocab_size(), max_position_embeddings=max_tokens, pad_token_id=0,
        **_small(head, shape),
    )
    return _save(_head_class("Bert", head)(config), tokenizer, path)


def build_bigbird(
    path: Path, max_tokens: int = 1024, block_size: int = 16, random_blocks: int = 2, head: str = "classification",
    shape: dict | None = None, bpe_vocab: int | None = None,
) -> Path:
    """BigBird with block-sparse attention: one token per base, or with ``bpe_vocab`` a BPE vocabulary of that
    size trained on the C. diphtheriae genome (as GENA-LM BigBird's BPE). Inputs of at most
    (5 + 2 * random_blocks) * block_size tokens (144 by default) run on full attention."""
    from tokenizers import Tokenizer, models
    from transformers import BigBirdConfig

    torch.manual_seed(0)
    if bpe_vocab:
        backend = _train_bpe(bpe_vocab, genome_chunks())
    else:
        vocab = {t: i for i, t in enumerate(_SPECIALS + list("ACGTN"))}
        backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))  # no merges: one per character
    tokenizer = _bert_style_fast_tokenizer(backend, max_tokens)
    config = BigBirdConfig(
        vocab_size=backend.get_vocab_size(),
        max_position_embeddings=max_tokens,
        attention_type="block_sparse",
        block_size=block_size,
        num_random_blocks=random_blocks,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        sep_token_id=3,
        **_small(head, shape),
    )
    return _save(_head_class("BigBird", head)(config), tokenizer, path)


BUILDERS = {
    "overlapping_kmer": build_dnabert,
    "nonoverlapping_kmer": build_nt,
    "bpe": build_bpe_bert,
    "single_nucleotide": build_bigbird,
}
