"""The base of dnallm's tokenizers: :class:`Encoding` (token ids with bp spans) and :class:`DNATokenizer`, which
turns a sequence into one model input (:meth:`~DNATokenizer.encode`) or into windows over a record longer than the
model takes (:meth:`~DNATokenizer.windows`, :meth:`~DNATokenizer.window_at`). The four families are subclasses
in :mod:`dnallm.tokenizers`; :mod:`dnallm.tokenization` loads a model's tokenizer as one of them.

Coordinates: every token's span is 0-based and half-open, ``[start, end)`` in bp on the input record (as in BED).
Special tokens have the span ``(-1, -1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dnallm.errors import InputError, TokenizerError
from dnallm.io.fasta import Record
from dnallm.registry import TOKENIZER_FAMILIES

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
        queries: ``(m, 3)`` int64 rows ``(token position, id a, id b)`` for heads that read the model's output at
            some tokens (the masked-LM variant score: ``log p(b) - log p(a)`` there); None for the others.
    """

    input_ids: np.ndarray
    spans: np.ndarray
    start: int
    end: int
    record_id: str | None = None
    window: int = 0
    n_windows: int = 1
    queries: np.ndarray | None = None

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
        from dnallm.tokenizers import FAMILY_CLASSES, detect_family  # the subclasses, built on this module

        if family is None:
            family, detected_k = detect_family(hf_tokenizer)
            k = k if k is not None else detected_k
        if family not in FAMILY_CLASSES:
            raise TokenizerError(f"unknown tokenizer family {family!r}; one of {', '.join(TOKENIZER_FAMILIES)}")
        return FAMILY_CLASSES[family](hf_tokenizer, k=k, max_tokens=max_tokens, verify=verify)


def _window_starts(n: int, width: int, overlap: int | None) -> list[int]:
    """First tokens of the windows of ``width`` tokens that :meth:`DNATokenizer.windows` cuts from ``n`` tokens."""
    if n <= width:
        return [0]
    overlap = width // 10 if overlap is None else overlap
    if not 0 <= overlap < width:
        raise ValueError(f"overlap must be from 0 to {width - 1} tokens, not {overlap}")
    return list(range(0, n - width, width - overlap)) + [n - width]
