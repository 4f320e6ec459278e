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

Coordinates: every token's span is 0-based and half-open, ``[start, end)`` in bp on the input record (as in BED).
Special tokens have the span ``(-1, -1)``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dnallm.errors import InputError, ModelLoadError, TokenizerError
from dnallm.io.fasta import Record
from dnallm.registry import KMER_FAMILIES, TOKENIZER_FAMILIES, resolve_model

logger = logging.getLogger(__name__)

#: byte -> code: A 0, C 1, G 2, T 3, N 4, anything else 5
_CODES = np.full(256, 5, dtype=np.uint8)
for _i, _c in enumerate(b"ACGTN"):
    _CODES[_c] = _i
_BASES = "ACGTN"

#: a fixed probe with N runs, a lone N and a tail that is not a multiple of 6, for verify()
_PROBE = (
    "ACGTTGCAATGCAAATTTGCATAACCGGTTACGCGTATATCCGGAATTCAGCTGACTCAGCN"
    "GGCTTACGATCGATNNNNACGTACGATTACAGGCATGAGCCACCGCGCCCGGCCTTATTTTAGCA"
)


@dataclass(frozen=True, eq=False)
class Encoding:
    """Token ids of one sequence or window, with each token's bp span on the record.

    Attributes:
        input_ids: ``(n_tokens,)`` int64 token ids, special tokens included.
        spans: ``(n_tokens, 2)`` int64, ``[start, end)`` in bp on the record; ``(-1, -1)`` for special tokens.
        start: first bp covered by the tokens (the window's offset on the record).
        end: one past the last bp covered.
        record_id: the record's id, where known.
        window: index of this window among the record's windows (0 for a record that fits).
        n_windows: how many windows the record was split into.
    """

    input_ids: np.ndarray
    spans: np.ndarray
    start: int
    end: int
    record_id: str | None = None
    window: int = 0
    n_windows: int = 1

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def special_mask(self) -> np.ndarray:
        """``(n_tokens,)`` bool, True for special tokens."""
        return self.spans[:, 0] < 0

    def token_span(self, i: int) -> tuple[int, int] | None:
        """The bp span of token ``i``, or None for a special token."""
        start, end = self.spans[i]
        return None if start < 0 else (int(start), int(end))


def _bytes(seq: str, record_id: str | None) -> np.ndarray:
    """``(L,)`` uint8 view of an ASCII sequence."""
    try:
        data = seq.encode("ascii")
    except UnicodeEncodeError:
        raise InputError.at(
            _name(record_id), "non-ASCII characters in the sequence; pass it through dnallm.iter_records() first"
        ) from None
    return np.frombuffer(data, dtype=np.uint8)


def _name(record_id: str | None) -> str:
    return f"record '{record_id}'" if record_id is not None else "sequence"


def _sane_max(value: Any) -> int | None:
    """A tokenizer's ``model_max_length`` when it is a real limit (transformers uses 1e30 for 'none')."""
    if isinstance(value, int) and 0 < value < 10_000_000:
        return value
    return None


class DNATokenizer:
    """Base of the four tokenizer families; build one with :func:`load_tokenizer` or :meth:`from_hf`.

    Args:
        hf_tokenizer: the model's own Hugging Face tokenizer.
        k: k-mer length (k-mer families).
        max_tokens: the model's longest input in tokens, special tokens included; used by :meth:`encode`
            and :meth:`windows`.
        verify: compare with the Hugging Face tokenizer on a probe sequence at construction.
    """

    family: ClassVar[str] = ""

    def __init__(self, hf_tokenizer: Any, *, k: int | None = None, max_tokens: int | None = None, verify: bool = True):
        self.hf = hf_tokenizer
        self.k = k
        self.vocab: dict[str, int] = hf_tokenizer.get_vocab()
        self.unk_id: int | None = hf_tokenizer.unk_token_id
        self.pad_id: int | None = hf_tokenizer.pad_token_id
        self._setup()
        self.prefix_ids, self.suffix_ids = self._special_layout()
        if max_tokens is None:
            max_tokens = _sane_max(getattr(hf_tokenizer, "model_max_length", None))
        self.max_tokens = max_tokens
        if self.max_tokens is not None and self.max_tokens <= self.n_special:
            raise TokenizerError(f"max_tokens={self.max_tokens} leaves no room next to {self.n_special} special tokens")
        if verify:
            self.verify()

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k else ""
        name = type(self).__name__
        return f"{name}(family={self.family!r}{k}, max_tokens={self.max_tokens}, vocab={len(self.vocab)})"

    # -- per family --------------------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Build lookup tables from the vocabulary."""

    def tokenize(self, seq: str, record_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of the whole sequence, without special tokens.

        Returns:
            ids ``(n,)`` int64 and spans ``(n, 2)`` int64 in bp on ``seq``.
        """
        raise NotImplementedError

    def _hf_text(self, seq: str) -> str:
        """The text the Hugging Face tokenizer expects for ``seq`` (space-separated k-mers for DNABERT)."""
        return seq

    # -- shared ------------------------------------------------------------------------------------------------

    @property
    def n_special(self) -> int:
        """How many special tokens surround one sequence."""
        return len(self.prefix_ids) + len(self.suffix_ids)

    @property
    def max_content_tokens(self) -> int | None:
        """Room for sequence tokens in one model input: ``max_tokens - n_special``."""
        return None if self.max_tokens is None else self.max_tokens - self.n_special

    def hf_reference(self, seq: str) -> list[int]:
        """The ids the Hugging Face tokenizer itself gives for ``seq`` (special tokens included)."""
        return list(self.hf(self._hf_text(seq), add_special_tokens=True)["input_ids"])

    def _special_layout(self) -> tuple[np.ndarray, np.ndarray]:
        text = self._hf_text(_PROBE[:24])
        full = list(self.hf(text, add_special_tokens=True)["input_ids"])
        plain = list(self.hf(text, add_special_tokens=False)["input_ids"])
        for i in range(len(full) - len(plain) + 1):
            if full[i : i + len(plain)] == plain:
                return (np.asarray(full[:i], dtype=np.int64), np.asarray(full[i + len(plain) :], dtype=np.int64))
        raise TokenizerError("cannot tell which special tokens the tokenizer adds around a sequence")

    def verify(self) -> None:
        """Check that this family's ids equal the Hugging Face tokenizer's on a probe with N runs.

        Raises:
            TokenizerError: showing the first differing token, when the family or k does not fit the tokenizer.
        """
        for probe in (_PROBE, _PROBE[7:61]):
            ours = self._assemble(*self.tokenize(probe), None, 0, 1).input_ids.tolist()
            theirs = self.hf_reference(probe)
            if ours != theirs:
                i = next((j for j, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                show = self.hf.convert_ids_to_tokens
                raise TokenizerError(
                    f"the {self.family} family (k={self.k}) does not reproduce this tokenizer: at token {i}, "
                    f"dnallm gives {show(ours[i:i + 3])} and the tokenizer {show(theirs[i:i + 3])} "
                    f"({len(ours)} vs {len(theirs)} tokens); set tokenizer_family/k to match the model"
                    + self._verify_hint(theirs)
                )

    def _verify_hint(self, theirs: list[int]) -> str:
        return ""

    def _assemble(
        self, ids: np.ndarray, spans: np.ndarray, record_id: str | None, window: int, n_windows: int
    ) -> Encoding:
        n_pre, n_suf = len(self.prefix_ids), len(self.suffix_ids)
        all_ids = np.concatenate([self.prefix_ids, ids, self.suffix_ids])
        all_spans = np.full((len(all_ids), 2), -1, dtype=np.int64)
        all_spans[n_pre : len(all_ids) - n_suf] = spans
        start = int(spans[:, 0].min()) if len(spans) else 0
        end = int(spans[:, 1].max()) if len(spans) else 0
        return Encoding(all_ids, all_spans, start, end, record_id, window, n_windows)

    def _tokens(self, seq: str | Record, record_id: str | None) -> tuple[np.ndarray, np.ndarray, str | None]:
        if isinstance(seq, Record):
            record_id = seq.id if record_id is None else record_id
            seq = seq.seq
        if not seq:
            raise InputError.at(_name(record_id), "empty sequence")
        ids, spans = self.tokenize(seq, record_id)
        return ids, spans, record_id

    def encode(self, seq: str | Record, record_id: str | None = None) -> Encoding:
        """Tokenize a sequence that fits the model in one input.

        Raises:
            InputError: when it needs more than ``max_tokens`` tokens; never truncates. Use :meth:`windows`.
        """
        ids, spans, record_id = self._tokens(seq, record_id)
        n = len(ids) + self.n_special
        if self.max_tokens is not None and n > self.max_tokens:
            raise InputError.at(
                _name(record_id), f"{spans[-1, 1]} bp make {n} tokens, more than the model's {self.max_tokens}; "
                "use windows() to split it into overlapping windows"
            )
        return self._assemble(ids, spans, record_id, 0, 1)

    def windows(self, seq: str | Record, record_id: str | None = None, overlap: int | None = None) -> list[Encoding]:
        """Split a record into model inputs whose spans together cover every base.

        A record that fits gives one window. A longer one gives windows of ``max_content_tokens`` tokens, each
        starting ``max_content_tokens - overlap`` tokens after the previous one; the last window ends at the
        record's last token (so it may overlap its neighbour more). Token windows, not bp windows, so every
        window holds exactly the tokens the whole record has there.

        Args:
            seq: the sequence or Record.
            record_id: id for messages and for the windows (taken from a Record).
            overlap: tokens shared by consecutive windows; default a tenth of a window.

        Returns:
            Encodings in record order, each with ``start``/``end`` (bp offset on the record), ``window``
            and ``n_windows``.
        """
        ids, spans, record_id = self._tokens(seq, record_id)
        width = self.max_content_tokens
        if width is None:
            raise TokenizerError("the model's maximum length is unknown; pass max_tokens to the tokenizer")
        starts = _window_starts(len(ids), width, overlap)
        return [
            self._assemble(ids[a : a + width], spans[a : a + width], record_id, i, len(starts))
            for i, a in enumerate(starts)
        ]

    def window_at(
        self, seq: str | Record, start: int, end: int, record_id: str | None = None, overlap: int | None = None
    ) -> Encoding:
        """One model input that holds bp ``[start, end)`` of the record, centred on it (as far as the record
        allows), cut from the record's own tokens like :meth:`windows`.

        Raises:
            InputError: when the region needs more tokens than the model takes.
        """
        ids, spans, record_id = self._tokens(seq, record_id)
        width = self.max_content_tokens or len(ids)
        inside = np.flatnonzero((spans[:, 1] > start) & (spans[:, 0] < end))
        if not len(inside):
            raise InputError.at(_name(record_id), f"no token covers bp {start}-{end}")
        first, last = int(inside[0]), int(inside[-1])
        if last - first + 1 > width:
            raise InputError.at(
                _name(record_id), f"bp {start}-{end} take {last - first + 1} tokens; the model takes {width} at once"
            )
        begin = min(max(0, first - (width - (last - first + 1)) // 2), max(0, len(ids) - width))
        stop = min(len(ids), begin + width)
        n_windows = len(_window_starts(len(ids), width, overlap))  # as many as windows(seq, overlap=overlap) gives
        return self._assemble(ids[begin:stop], spans[begin:stop], record_id, 0, n_windows)

    @classmethod
    def from_hf(
        cls,
        hf_tokenizer: Any,
        *,
        family: str | None = None,
        k: int | None = None,
        max_tokens: int | None = None,
        verify: bool = True,
    ) -> DNATokenizer:
        """Wrap a Hugging Face tokenizer in its family's class, detecting the family when not given."""
        if family is None:
            family, detected_k = detect_family(hf_tokenizer)
            k = k if k is not None else detected_k
        if family not in _FAMILY_CLASSES:
            raise TokenizerError(f"unknown tokenizer family {family!r}; one of {', '.join(TOKENIZER_FAMILIES)}")
        return _FAMILY_CLASSES[family](hf_tokenizer, k=k, max_tokens=max_tokens, verify=verify)


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


def _window_starts(n: int, width: int, overlap: int | None) -> list[int]:
    """First tokens of the windows of ``width`` tokens that :meth:`DNATokenizer.windows` cuts from ``n`` tokens."""
    if n <= width:
        return [0]
    overlap = width // 10 if overlap is None else overlap
    if not 0 <= overlap < width:
        raise ValueError(f"overlap must be from 0 to {width - 1} tokens, not {overlap}")
    return list(range(0, n - width, width - overlap)) + [n - width]


_FAMILY_CLASSES: dict[str, type[DNATokenizer]] = {
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
    from transformers import AutoConfig, AutoTokenizer

    source, spec = resolve_model(model)
    if spec is not None:
        tokenizer_family = tokenizer_family or spec.tokenizer_family
        k = k if k is not None else spec.k
        max_tokens = max_tokens if max_tokens is not None else spec.max_tokens
    if Path(source).is_dir() and not any(Path(source).glob("tokenizer*")) and not (Path(source) / "vocab.txt").exists():
        raise TokenizerError(
            f"{source}: no tokenizer files (tokenizer.json, tokenizer_config.json or vocab.txt); "
            "save the tokenizer next to the model with tokenizer.save_pretrained()"
        )
    if Path(source).is_dir():
        _check_tokenizer_files(Path(source))
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "revision": revision}
    try:
        hf = AutoTokenizer.from_pretrained(source, **kwargs)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise TokenizerError(
                f"{model}: the tokenizer is code from the model's repository; read that code, then pass "
                "trust_remote_code=True to run it"
            ) from None
        raise
    except OSError as exc:
        raise ModelLoadError(
            f"cannot load '{model}': it is not a local directory and the Hugging Face hub did not provide "
            f"'{source}' ({str(exc).splitlines()[0]}); check the name and your network, or pass a local directory"
        ) from None
    family = tokenizer_family
    if family is None:
        family, detected = detect_family(hf)
        k = k if k is not None else detected
    if family in KMER_FAMILIES:
        hf = _undo_lower_case(hf, source, k, kwargs)
    if max_tokens is None:
        try:
            config = AutoConfig.from_pretrained(source, **kwargs)
            max_tokens = max_tokens_from_config(config)
        except (OSError, ValueError):
            max_tokens = None
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

