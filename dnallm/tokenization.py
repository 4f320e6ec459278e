"""Tokenizer families with base-pair spans, and windows over records longer than a model's input.

One :class:`DNATokenizer` subclass per family wraps the model's own Hugging Face tokenizer:

=========================  ====================================  =====================================================
family                     models                                how dnallm tokenizes
=========================  ====================================  =====================================================
``overlapping_kmer``       DNABERT (k = 3..6)                    a k-mer starting at every base, looked up in the
                                                                 tokenizer's vocabulary (vectorised; k-mers with N or
                                                                 other symbols become the unknown token, as the
                                                                 tokenizer itself gives for space-separated k-mers)
``nonoverlapping_kmer``    Nucleotide Transformer, AgroNT        6-mers from the start of every A/C/G/T run, single
                                                                 bases for N and for a run's last < 6 bases
``bpe``                    DNABERT-2, GENA-LM, GROVER            the tokenizer itself, with its offsets as bp spans
``single_nucleotide``      HyenaDNA, Caduceus, char BigBird      one token per base
=========================  ====================================  =====================================================

The k-mer and single-nucleotide families compute token ids with numpy lookup tables built from the tokenizer's
vocabulary, and check once, at construction, that they give the same ids as the tokenizer itself on a probe
sequence (:meth:`DNATokenizer.verify`). Special tokens are those the tokenizer adds around one sequence.

The classes live in :mod:`dnallm.tokenizer_base` (:class:`Encoding`, :class:`DNATokenizer`) and
:mod:`dnallm.tokenizers` (the families, :func:`detect_family`); this module loads a model's tokenizer as one of
them and keeps every name importable from here.

Coordinates: every token's span is 0-based and half-open, ``[start, end)`` in bp on the input record (as in BED).
Special tokens have the span ``(-1, -1)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dnallm.errors import TokenizerError
from dnallm.registry import KMER_FAMILIES, hub_missing_error, resolve_model
from dnallm.tokenizer_base import DNATokenizer, Encoding
from dnallm.tokenizers import (
    BPETokenizer,
    NonOverlappingKmerTokenizer,
    OverlappingKmerTokenizer,
    SingleNucleotideTokenizer,
    detect_family,
)

__all__ = [
    "BPETokenizer", "DNATokenizer", "Encoding", "NonOverlappingKmerTokenizer", "OverlappingKmerTokenizer",
    "SingleNucleotideTokenizer", "detect_family", "load_tokenizer", "load_tokenizer_from", "max_tokens_from_config",
]

logger = logging.getLogger(__name__)


def max_tokens_from_config(config: Any) -> int | None:
    """The longest input in tokens a model config allows, special tokens included, or None if it sets none.

    ESM (Nucleotide Transformer) reserves two position slots: its limit is ``max_position_embeddings - 2``.
    """
    mpe = getattr(config, "max_position_embeddings", None)
    if isinstance(mpe, int) and mpe > 0:
        return mpe - 2 if getattr(config, "model_type", "") == "esm" else mpe
    for name in ("max_seq_len", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _check_tokenizer_files(folder: Path) -> None:
    """A damaged tokenizer.json (or tokenizer_config.json, special_tokens_map.json) is refused in one line naming
    the file, before transformers parses it."""
    import json

    from tokenizers import Tokenizer

    for name in ("tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        file = folder / name
        if not file.is_file():
            continue
        try:
            if name == "tokenizer.json":
                Tokenizer.from_file(str(file))
            else:
                json.loads(file.read_text(encoding="utf-8"))
        except Exception as exc:  # json.JSONDecodeError, or the tokenizers library's own Exception
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TokenizerError(
                f"{file}: not a valid {name} ({reason}); save the tokenizer again with tokenizer.save_pretrained()"
            ) from None


def load_tokenizer(
    model: str | Path,
    *,
    tokenizer_family: str | None = None,
    k: int | None = None,
    max_tokens: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> DNATokenizer:
    """Load a model's tokenizer as a :class:`DNATokenizer`.

    Args:
        model: a local directory, a models.yaml name, or a Hugging Face hub id.
        tokenizer_family, k: override the registry entry or the detection.
        max_tokens: override the model's limit (else from the registry, config.json or the tokenizer).
        trust_remote_code: allow the repository's own tokenizer code (HyenaDNA, Caduceus need it).
        revision: a hub branch, tag or commit.
    """
    source, spec = resolve_model(model)
    if spec is not None:
        tokenizer_family = tokenizer_family or spec.tokenizer_family
        k = k if k is not None else spec.k
        max_tokens = max_tokens if max_tokens is not None else spec.max_tokens
    if max_tokens is None:
        max_tokens = _config_max_tokens(source, trust_remote_code, revision)
    return load_tokenizer_from(source, family=tokenizer_family, k=k, max_tokens=max_tokens,
                               trust_remote_code=trust_remote_code, revision=revision, name=str(model))


def _config_max_tokens(source: str, trust_remote_code: bool, revision: str | None) -> int | None:
    """:func:`max_tokens_from_config` of the config.json at ``source``; None where there is none to read."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
    except (OSError, ValueError):
        return None
    return max_tokens_from_config(config)


def load_tokenizer_from(
    source: str,
    *,
    family: str | None,
    k: int | None,
    max_tokens: int | None,
    trust_remote_code: bool,
    revision: str | None,
    name: str | None = None,
) -> DNATokenizer:
    """The tokenizer at an already resolved ``source`` (a local directory or a hub id); never reads the registry.

    Args:
        source: where the files are, as :func:`dnallm.registry.resolve_model` gives it.
        family, k: the tokenizer family and k-mer length; None detects them from the vocabulary.
        max_tokens: the model's longest input in tokens, as the caller decided it; None takes the tokenizer's own.
        trust_remote_code: allow the repository's own tokenizer code.
        revision: a hub branch, tag or commit.
        name: what the user typed, for messages (default ``source``).

    Raises:
        TokenizerError: no or damaged tokenizer files, remote code not allowed, a family that does not fit.
        ModelLoadError: a hub id the hub did not provide.
    """
    from transformers import AutoTokenizer

    name = source if name is None else name
    folder = Path(source)
    if folder.is_dir():
        if not any(folder.glob("tokenizer*")) and not (folder / "vocab.txt").exists():
            raise TokenizerError(
                f"{source}: no tokenizer files (tokenizer.json, tokenizer_config.json or vocab.txt); "
                "save the tokenizer next to the model with tokenizer.save_pretrained()"
            )
        _check_tokenizer_files(folder)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "revision": revision}
    try:
        hf = AutoTokenizer.from_pretrained(source, **kwargs)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise TokenizerError(
                f"{name}: the tokenizer is code from the model's repository; read that code, then pass "
                "trust_remote_code=True to run it"
            ) from None
        raise
    except OSError as exc:
        raise hub_missing_error(name, source, exc) from None
    if family is None:
        family, detected = detect_family(hf)
        k = k if k is not None else detected
    if family in KMER_FAMILIES:
        hf = _undo_lower_case(hf, source, k, kwargs)
    return DNATokenizer.from_hf(hf, family=family, k=k, max_tokens=max_tokens)


def _undo_lower_case(hf: Any, source: str, k: int | None, kwargs: dict[str, Any]) -> Any:
    """k-mer vocabularies are upper case; a tokenizer saved without ``do_lower_case=False`` lower-cases them
    all into the unknown token (transformers 5's BertTokenizer does by default). Reload it without."""
    if not k:
        return hf
    kmer = "ACGTAC"[:k] if k <= 6 else "ACGT" * 2
    if hf.tokenize(kmer) == [kmer]:
        return hf
    from transformers import AutoTokenizer

    fixed = AutoTokenizer.from_pretrained(source, do_lower_case=False, **kwargs)
    if fixed.tokenize(kmer) == [kmer]:
        logger.info("%s: the tokenizer lower-cased its upper-case k-mer vocabulary; reloaded with do_lower_case=False",
                    source)
        return fixed
    return hf

