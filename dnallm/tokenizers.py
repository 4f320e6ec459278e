"""The four tokenizer families (see the table in :mod:`dnallm.tokenization`) and their detection from a
vocabulary. Each class computes ids and bp spans for a whole sequence (:meth:`tokenize`); the base class
:class:`~dnallm.tokenizer_base.DNATokenizer` adds special tokens, limits and windows."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from dnallm.errors import InputError, TokenizerError
from dnallm.registry import TOKENIZER_FAMILIES
from dnallm.tokenizer_base import _BASES, _CODES, _PROBE, DNATokenizer, _bytes, _name


class OverlappingKmerTokenizer(DNATokenizer):
    """DNABERT: token i is the k-mer ``seq[i:i+k]``; a sequence of L bp gives ``L - k + 1`` tokens."""

    family = "overlapping_kmer"

    def _setup(self) -> None:
        if self.k is None:
            self.k = detect_family(self.hf)[1]
        k = self.k
        if not k or not 1 <= k <= 8:
            raise TokenizerError(f"the overlapping_kmer family needs k from 1 to 8, not {k}")
        unk = -1 if self.unk_id is None else self.unk_id
        # one entry per k-mer over A C G T N, indexed by the k-mer's base-5 number
        lut = np.full(5**k, unk, dtype=np.int64)
        for i, kmer in enumerate(itertools.product(_BASES, repeat=k)):
            lut[i] = self.vocab.get("".join(kmer), unk)
        if not (lut != unk).any():
            raise TokenizerError(f"the tokenizer's vocabulary holds none of the {4 ** k} {k}-mers")
        self._lut = lut

    def tokenize(self, seq: str, record_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        k = self.k
        codes = _CODES[_bytes(seq, record_id)]
        n = len(codes) - k + 1
        if n <= 0:
            raise InputError.at(
                _name(record_id), f"{len(codes)} bp is shorter than one {k}-mer; this model needs >= {k} bp"
            )
        index = np.zeros(n, dtype=np.int64)
        clipped = np.minimum(codes, 4).astype(np.int64)
        for j in range(k):  # k vectorised passes, no loop over bases
            index = index * 5 + clipped[j : j + n]
        ids = self._lut[index]
        other = codes == 5
        if other.any():  # a symbol outside A C G T N: unknown token
            bad = np.concatenate([[0], np.cumsum(other)])
            ids[(bad[k : k + n] - bad[:n]) > 0] = self.unk_id
        starts = np.arange(n, dtype=np.int64)
        return ids, np.stack([starts, starts + k], axis=1)

    def _hf_text(self, seq: str) -> str:
        k = self.k
        return " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))

    def _verify_hint(self, theirs: list[int]) -> str:
        if self.unk_id is not None and theirs.count(self.unk_id) > len(theirs) // 2:
            return (
                " (the tokenizer turns most k-mers into its unknown token: it probably lower-cases its input; "
                "load it with do_lower_case=False, as load_tokenizer() does)"
            )
        return ""


class NonOverlappingKmerTokenizer(DNATokenizer):
    """Nucleotide Transformer: within each A/C/G/T run, 6-mers from the run's start, then single bases;
    N and any other symbol are single tokens."""

    family = "nonoverlapping_kmer"

    def _setup(self) -> None:
        if self.k is None:
            self.k = detect_family(self.hf)[1] or 6
        k = self.k
        unk = -1 if self.unk_id is None else self.unk_id
        self._kmer_lut = np.array(
            [self.vocab.get("".join(kmer), unk) for kmer in itertools.product("ACGT", repeat=k)], dtype=np.int64
        )
        self._char_lut = np.array([self.vocab.get(chr(b), unk) for b in range(256)], dtype=np.int64)

    def tokenize(self, seq: str, record_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        k = self.k
        data = _bytes(seq, record_id)
        codes = _CODES[data]
        size = len(codes)
        acgt = codes < 4
        pos = np.arange(size, dtype=np.int64)
        prev = np.concatenate([[False], acgt[:-1]])
        nxt = np.concatenate([acgt[1:], [False]])
        run_start = np.maximum.accumulate(np.where(acgt & ~prev, pos, 0))
        run_end = np.minimum.accumulate(np.where(acgt & ~nxt, pos + 1, size)[::-1])[::-1]
        offset = pos - run_start
        full = (run_end - run_start) // k * k
        kmer_start = acgt & (offset % k == 0) & (offset < full)
        single = ~acgt | (offset >= full)
        starts = np.flatnonzero(kmer_start | single)
        is_kmer = kmer_start[starts]
        ids = self._char_lut[data[starts]]
        kstarts = starts[is_kmer]
        if len(kstarts):
            index = np.zeros(len(kstarts), dtype=np.int64)
            for j in range(k):
                index = index * 4 + codes[kstarts + j]
            ids[is_kmer] = self._kmer_lut[index]
        ends = starts + np.where(is_kmer, k, 1)
        return ids, np.stack([starts, ends], axis=1)


class BPETokenizer(DNATokenizer):
    """DNABERT-2, GENA-LM, GROVER: the tokenizer's own BPE, its character offsets as bp spans.

    The spans must tile the sequence; a tokenizer that drops or rewrites bases is refused with the position.
    """

    family = "bpe"

    def _setup(self) -> None:
        backend = getattr(self.hf, "backend_tokenizer", None)
        if backend is not None:
            from tokenizers import Tokenizer

            self._backend = Tokenizer.from_str(backend.to_str())  # a private copy: no truncation, no padding
            self._backend.no_truncation()
            self._backend.no_padding()
        else:
            self._backend = None

    def tokenize(self, seq: str, record_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self._backend is not None:
            enc = self._backend.encode(seq, add_special_tokens=False)
            ids = np.asarray(enc.ids, dtype=np.int64)
            spans = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        else:
            tokens = self.hf.tokenize(seq)
            ids = np.asarray(self.hf.convert_tokens_to_ids(tokens), dtype=np.int64)
            spans = _spans_from_tokens(seq, tokens, record_id)
        _check_tiling(spans, len(seq), record_id)
        return ids, spans

    def verify(self) -> None:
        self.tokenize(_PROBE)  # the spans tile the probe (checked inside)


class SingleNucleotideTokenizer(DNATokenizer):
    """HyenaDNA, Caduceus, character-level BigBird: token i is base i."""

    family = "single_nucleotide"

    def _setup(self) -> None:
        unk = -1 if self.unk_id is None else self.unk_id
        self._lut = np.array(
            [self.vocab.get(chr(b), self.vocab.get(chr(b).lower(), unk)) for b in range(256)], dtype=np.int64
        )
        if (self._lut[list(b"ACGT")] == unk).any():
            raise TokenizerError("the vocabulary lacks single-base tokens A, C, G and T")

    def tokenize(self, seq: str, record_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        data = _bytes(seq, record_id)
        starts = np.arange(len(data), dtype=np.int64)
        return self._lut[data], np.stack([starts, starts + 1], axis=1)


FAMILY_CLASSES: dict[str, type[DNATokenizer]] = {
    cls.family: cls
    for cls in (OverlappingKmerTokenizer, NonOverlappingKmerTokenizer, BPETokenizer, SingleNucleotideTokenizer)
}


def _check_tiling(spans: np.ndarray, length: int, record_id: str | None) -> None:
    """Raise unless the spans run from 0 to ``length`` with no gap and no overlap."""
    if len(spans) == 0:
        raise TokenizerError(f"{_name(record_id)}: the tokenizer gave no tokens for {length} bp")
    starts, ends = spans[:, 0], spans[:, 1]
    gaps = np.flatnonzero(starts[1:] != ends[:-1])
    if starts[0] != 0:
        problem = f"the first token starts at bp {starts[0]}"
    elif len(gaps):
        problem = f"the tokens leave a gap or overlap at bp {ends[gaps[0]]}"
    elif ends[-1] != length:
        problem = f"the tokens' offsets cover {ends[-1]} of {length} bp"
    else:
        return
    raise TokenizerError(
        f"{_name(record_id)}: {problem}: the tokenizer drops or rewrites bases (often a character missing from "
        "its vocabulary with no unknown token), so its tokens cannot be mapped to base pairs"
    )


def _spans_from_tokens(seq: str, tokens: list[str], record_id: str | None) -> np.ndarray:
    """Spans of a slow tokenizer's tokens, by matching each token's text (without word-piece marks) in order."""
    spans = np.empty((len(tokens), 2), dtype=np.int64)
    pos = 0
    for i, token in enumerate(tokens):
        text = token.removeprefix("##").removeprefix("\u0120").removeprefix("\u2581")
        if not seq.startswith(text.upper(), pos):
            raise TokenizerError(f"{_name(record_id)}: token {token!r} does not match the sequence at bp {pos}")
        spans[i] = pos, pos + len(text)
        pos += len(text)
    return spans


def _is_special_like(token: str, specials: set[str]) -> bool:
    return token in specials or (len(token) > 2 and token[0] + token[-1] in ("[]", "<>"))


def detect_family(hf_tokenizer: Any) -> tuple[str, int | None]:
    """Tell the tokenizer family from the vocabulary.

    * every k-mer over A C G T for one k >= 2 and no other multi-base token: a k-mer family,
      ``nonoverlapping_kmer`` when the single bases A C G T are tokens too, else ``overlapping_kmer``;
    * only single-character tokens: ``single_nucleotide``;
    * tokens of many lengths from a BPE/WordPiece/Unigram model: ``bpe``.

    Raises:
        TokenizerError: when none fits; set ``tokenizer_family`` (and ``k``) yourself.
    """
    vocab = hf_tokenizer.get_vocab()
    specials = set(getattr(hf_tokenizer, "all_special_tokens", []))
    words = [t for t in vocab if not _is_special_like(t, specials)]
    dna = [t for t in words if t and set(t) <= set("ACGT")]
    multi = {len(t) for t in dna if len(t) >= 2}
    if len(multi) == 1:
        k = multi.pop()
        if sum(len(t) == k for t in dna) == 4**k:
            singles = all(b in vocab for b in "ACGT")
            return ("nonoverlapping_kmer" if singles else "overlapping_kmer"), k
    if words and all(len(t) == 1 for t in words) and all(b in vocab for b in "ACGT"):
        return "single_nucleotide", None
    if len(multi) > 1 and getattr(hf_tokenizer, "is_fast", False):
        return "bpe", None
    raise TokenizerError(
        f"cannot tell the tokenizer family of {type(hf_tokenizer).__name__} from its vocabulary of {len(vocab)} "
        f"tokens; pass tokenizer_family= (one of {', '.join(TOKENIZER_FAMILIES)}) and k="
    )
