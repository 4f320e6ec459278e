"""The batched runner under every capability: records -> token windows -> token-budget batches -> one forward
pass per batch -> each window's output, in input order.

:class:`Runner` owns what a forward pass needs (the model, its tokenizer, device, dtype, the attention backend
chosen at load, BigBird's rules, the token budget) and the run's progress and statistics. Capabilities above it
(``predict``, ``embed``; attribution, variant effects, scanning) give it records or encodings and a
:class:`dnallm.heads.Head`, and read arrays back: they never touch tensors or batches.

Records are read and tokenized on a background thread (:func:`dnallm.batching.prefetch`), in chunks of
``chunk_batches`` batches' worth of tokens; batches are planned within a chunk (the larger it is, the fewer
part-filled batches: benchmarks/README.md, "Throughput") and results are handed on chunk by chunk.

Both strands (``both_strands=True``): every window is run twice, as it is and as its reverse complement (the
window's own bases ``seq[start:end]`` reverse-complemented and tokenized alone), and the window's output is the
mean of the two. A window's coordinates stay those of the forward strand.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from dnallm import bigbird
from dnallm.batching import pad_batch, plan_batches, prefetch
from dnallm.errors import DnallmError, InputError
from dnallm.heads import Head
from dnallm.io.options import InputOptions, Skipped
from dnallm.tokenization import Encoding

logger = logging.getLogger(__name__)

#: records shorter than this share of the trained minimum, or longer than this multiple of the trained maximum,
#: are counted in one warning per run
TRAINED_LENGTH_FACTOR = (0.5, 2.0)

AfterBatch = Callable[[np.ndarray], None]


@dataclass
class RunStats:
    """What the last run did (for benchmarks and for checking BigBird's attention)."""

    records: int = 0
    windows: int = 0
    batches: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    seconds: float = 0.0
    attention_types: Counter = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    excluded: int = 0
    #: the inputs the skipped entries stand for (an entry may stand for a run of genome tiles)
    skipped_inputs: int = 0
    #: records far outside the model's trained length (see :attr:`dnallm.DNAInference.trained_length_bp`)
    too_short: int = 0
    too_long: int = 0
    shortest: int | None = None
    longest: int = 0

    @property
    def padding_fraction(self) -> float:
        """Share of the computed tokens that were padding."""
        return 0.0 if not self.padded_tokens else 1 - self.tokens / self.padded_tokens

    @property
    def seen(self) -> int:
        """Records read so far: run, skipped or excluded."""
        return self.records + self.skipped_inputs + self.excluded

    def count_lengths(self, lengths: np.ndarray, trained: tuple[int, int] | None) -> None:
        """Count the records far outside the model's trained length ``trained`` (bp)."""
        if trained is None or not len(lengths):
            return
        self.too_short += int((lengths < trained[0] * TRAINED_LENGTH_FACTOR[0]).sum())
        self.too_long += int((lengths > trained[1] * TRAINED_LENGTH_FACTOR[1]).sum())
        self.shortest = int(lengths.min()) if self.shortest is None else min(self.shortest, int(lengths.min()))
        self.longest = max(self.longest, int(lengths.max()))

    def warn_lengths(self, trained: tuple[int, int] | None) -> None:
        """One warning per run, counted, for the records far outside the model's trained length."""
        if trained is None or not (self.too_short or self.too_long):
            return
        low, high = trained
        span = f"{low:,} bp" if low == high else f"{low:,}-{high:,} bp"
        parts = []
        if self.too_short:
            parts.append(f"{self.too_short:,} of {self.records:,} records are much shorter than the {span} this "
                         f"model was trained on (under {low * TRAINED_LENGTH_FACTOR[0]:,g} bp; shortest "
                         f"{self.shortest:,} bp)")
        if self.too_long:
            parts.append(f"{self.too_long:,} of {self.records:,} records are much longer than the {span} this "
                         f"model was trained on (over {high * TRAINED_LENGTH_FACTOR[1]:,g} bp; longest "
                         f"{self.longest:,} bp)")
        logger.warning("%s: its outputs there are extrapolations, however confident they look", "; ".join(parts))

    def warn_skipped(self, unit: str = "records") -> None:
        """One warning for what ``on_error="skip"`` left out, counted in ``unit`` (an entry may stand for
        several: a run of genome tiles)."""
        if self.skipped:
            n = max(self.skipped_inputs, len(self.skipped))
            shown = "; ".join(f"'{s.id}' ({s.where})" for s in self.skipped[:3])
            logger.warning("%d %s skipped (on_error='skip'): %s%s", n, unit if n != 1 else unit[:-1], shown,
                           ", ..." if len(self.skipped) > 3 else "")


@dataclass
class Chunk:
    """Consecutive records with their windows and, once run, each window's output.

    Attributes:
        records: the records, in input order.
        windows: each record's windows (:class:`Encoding`, bp spans on the record), in order.
        values: ``(n_windows, dim)`` float32, the windows of all records in order (None before the run).
        skipped, excluded: records left out before these (``on_error="skip"``, ``exclude_ids``).
    """

    records: list = field(default_factory=list)
    windows: list[list[Encoding]] = field(default_factory=list)
    values: np.ndarray | None = None
    skipped: list[Skipped] = field(default_factory=list)
    excluded: int = 0
    tokens: int = 0

    @property
    def counts(self) -> np.ndarray:
        """Windows per record."""
        return np.array([len(w) for w in self.windows], dtype=np.int64)

    @property
    def flat(self) -> list[Encoding]:
        return [w for ws in self.windows for w in ws]

    def per_record(self, head: Head) -> np.ndarray:
        """Each record's output ``(n_records, dim)`` float32, by the head's rule for combining windows."""
        return head.combine(self.values, self.counts).astype(np.float32)


class _StrandWindows(list):
    """A record's windows (forward strand) with their reverse complements in :attr:`reverse`, in the same order."""

    reverse: list[Encoding]


def check_batch_tokens(max_batch_tokens: int | None) -> None:
    """Refuse a token budget no batch can keep."""
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise DnallmError(f"max_batch_tokens must be positive, not {max_batch_tokens}")


class Runner:
    """Runs records or token windows through one loaded model in token-budget batches.

    Args:
        loaded: the :class:`dnallm.modeling.LoadedModel` (model, tokenizer, head, device, dtype, backend).
        max_batch_tokens: the most tokens (padding included) one forward pass may hold (None: 4,096 on a CPU,
            16,384 on a GPU).
        window_overlap: tokens shared by consecutive windows of a long record (None: the tokenizer's default).
        trained_length_bp: ``(shortest, longest)`` bp the model was trained on, or None.
    """

    #: records are tokenized ahead and planned into batches this many batches' worth of tokens at a time
    chunk_batches = 64
    #: ... and at most this many records at a time
    chunk_records = 8192

    def __init__(self, loaded: Any, max_batch_tokens: int | None = None, window_overlap: int | None = None,
                 trained_length_bp: tuple[int, int] | None = None):
        check_batch_tokens(max_batch_tokens)
        if max_batch_tokens is None:  # a GPU runs larger batches well; a CPU wastes least on small ones
            max_batch_tokens = 16384 if loaded.device.type == "cuda" else 4096
        self.loaded = loaded
        self.max_batch_tokens = max_batch_tokens
        self.window_overlap = window_overlap
        self.trained_length_bp = trained_length_bp
        self.last_run = RunStats()

    model = property(lambda self: self.loaded.model)
    tokenizer = property(lambda self: self.loaded.tokenizer)
    device = property(lambda self: self.loaded.device)

    # -- records in, chunks out -----------------------------------------------------------------------------------

    def run(self, source: Any, head: Head, options: InputOptions, *, exclude_ids: Container[str] = (),
            both_strands: bool = False, progress: bool = False, checked: bool = False, total: int | None = None,
            unit: str = "records") -> Iterator[Chunk]:
        """Read ``source`` (anything :func:`dnallm.iter_records` takes) under ``options``, run every window with
        ``head`` and yield :class:`Chunk` s in input order. ``options.on_skip`` is called on this (the caller's)
        thread, before the chunk that follows the skipped record. ``exclude_ids``: records read and checked but
        not run. Statistics go to :attr:`last_run`.

        ``checked=True``: ``source`` is an iterable of :class:`Record` s made by dnallm itself (genome tiles and
        intervals: upper-case ACGTN, ids not checked for repeats, so memory stays flat over a genome), which may
        also yield :class:`Skipped` entries for inputs left out before the run. ``total`` and ``unit``: the
        progress bar's (default: the records of a FASTA path)."""
        from dnallm.io.fasta import count_records, iter_records

        stats = self.last_run = RunStats()
        start = time.perf_counter()
        if total is None and progress and not checked and isinstance(source, (str, os.PathLike)):
            total = count_records(source)
        bar = _RecordBar(stats, total, unit) if progress else None
        pending: list[Skipped] = []
        quiet = replace(options, on_skip=pending.append) if options.skipping else options
        try:
            records = source if checked else iter_records(source, options=quiet)
            for chunk in prefetch(self._chunks(records, pending, exclude_ids, both_strands, options.skipping)):
                for item in chunk.skipped:
                    stats.skipped.append(item)
                    stats.skipped_inputs += item.count
                    options.report(item)
                stats.excluded += chunk.excluded
                if chunk.records:
                    after = bar.watch(chunk) if bar is not None else None
                    chunk.values = self.forward_windows(chunk, head, both_strands, after)
                    stats.records += len(chunk.records)
                    stats.windows += int(chunk.counts.sum())
                    stats.count_lengths(np.array([len(r) for r in chunk.records]), self.trained_length_bp)
                    yield chunk
                if bar is not None:
                    bar.update(stats.seen - bar.n)
        finally:
            if bar is not None:
                bar.close()
            stats.seconds = time.perf_counter() - start
        stats.warn_lengths(self.trained_length_bp)
        stats.warn_skipped(unit)

    def windows(self, rec: Any, both_strands: bool = False) -> list[Encoding]:
        """The windows of one record (bp spans on it); with ``both_strands`` each window's reverse complement
        in ``.reverse`` (its spans on the reversed string)."""
        windows = self.tokenizer.windows(rec, overlap=self.window_overlap)
        return self._with_reverse(rec, windows) if both_strands else windows

    def _chunks(self, records: Iterable, pending: list[Skipped], exclude_ids: Container[str],
                both_strands: bool, skipping: bool) -> Iterator[Chunk]:
        """Records with their windows, ``chunk_batches`` batches' worth of tokens at a time (prefetch thread)."""
        budget = self.chunk_batches * self.max_batch_tokens
        chunk = Chunk()
        for rec in records:
            if isinstance(rec, Skipped):  # left out by the source itself (checked sources)
                pending.append(rec)
                continue
            if exclude_ids and rec.id in exclude_ids:
                chunk.excluded += 1
                continue
            try:
                windows = self.windows(rec, both_strands)
            except InputError as exc:  # e.g. shorter than one k-mer
                message = f"{rec.origin}: {exc}" if rec.origin and rec.origin not in str(exc) else str(exc)
                if not skipping:
                    raise InputError(message, reason=exc.reason) from None
                pending.append(Skipped(rec.id, rec.origin, exc.reason))
                continue
            chunk.skipped.extend(pending)
            pending.clear()
            chunk.records.append(rec)
            chunk.windows.append(windows)
            chunk.tokens += sum(len(w) for w in windows) * (2 if both_strands else 1)
            if chunk.tokens >= budget or len(chunk.records) >= self.chunk_records:
                yield chunk
                chunk = Chunk()
        chunk.skipped.extend(pending)
        pending.clear()
        yield chunk

    # -- windows in, arrays out -----------------------------------------------------------------------------------

    def forward_windows(self, chunk: Chunk, head: Head, both_strands: bool = False,
                        after_batch: AfterBatch | None = None) -> np.ndarray:
        """The output of every window of ``chunk``, ``(n_windows, dim)`` float32; with ``both_strands`` the mean
        of each window's and its reverse complement's. ``after_batch`` hears of each window once it is done."""
        flat = chunk.flat
        if not both_strands:
            return self.forward(flat, head, after_batch)
        n = len(flat)
        reverse = [r for ws in chunk.windows for r in ws.reverse]
        strands_done = np.zeros(n, dtype=np.int64)

        def both_done(batch_index: np.ndarray) -> None:
            window = batch_index % n
            np.add.at(strands_done, window, 1)  # a batch may hold both strands of a window
            window = np.unique(window)
            ready = window[strands_done[window] == 2]  # each strand runs once: these became ready now
            if after_batch is not None and len(ready):
                after_batch(ready)

        values = self.forward(flat + reverse, head, both_done)
        return ((values[:n].astype(np.float64) + values[n:]) / 2).astype(np.float32)

    def forward(self, encodings: Sequence[Encoding], head: Head, after_batch: AfterBatch | None = None) -> np.ndarray:
        """``head``'s output for every encoding, ``(len(encodings), dim)`` float32, in the order given: one
        forward pass per token-budget batch (length-sorted; BigBird block layouts kept apart). ``after_batch``
        is called with each batch's positions in ``encodings`` once it is done."""
        if head.compute is None:
            raise DnallmError(f"the {head.name} head computes nothing to run")
        stats = self.last_run
        lengths = np.array([len(e) for e in encodings])
        groups = bigbird.batch_groups(self.model.config, lengths)
        pad_id = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
        out: np.ndarray | None = None
        for batch_index in plan_batches(lengths, self.max_batch_tokens, groups):
            batch = pad_batch([encodings[i] for i in batch_index], pad_id)
            longest = batch["input_ids"].shape[1]
            batch = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
            with torch.inference_mode(), bigbird.attention_type_for(self.model, longest) as attention:
                with bigbird.no_dense_attention_map(self.model):
                    values = head.compute(self.model, batch).cpu().numpy()
            if out is None:
                out = np.empty((len(encodings), values.shape[1]), dtype=np.float32)
            out[batch_index] = values
            stats.batches += 1
            stats.tokens += int(lengths[batch_index].sum())
            stats.padded_tokens += len(batch_index) * longest
            if attention is not None:
                stats.attention_types[attention] += 1
            if after_batch is not None:
                after_batch(batch_index)
        if out is None:
            raise DnallmError("nothing to run: no encodings were given")
        return out

    def _with_reverse(self, rec: Any, windows: list[Encoding]) -> _StrandWindows:
        from dnallm.motifs import reverse_complement

        reverse = []
        for w in windows:
            text = reverse_complement(rec.seq[w.start : w.end])
            try:
                enc = self.tokenizer.encode(text, record_id=rec.id)
            except InputError:
                n = len(self.tokenizer.tokenize(text, rec.id)[0]) + self.tokenizer.n_special
                raise InputError.at(
                    f"record '{rec.id}'",
                    f"the reverse complement of window {w.window} (bp {w.start:,}-{w.end:,}) takes {n} tokens, more "
                    f"than the model's {self.tokenizer.max_tokens} ({self.tokenizer.family} tokens differ between "
                    "the strands); run it without both_strands=True (CLI: --both-strands)",
                ) from None
            reverse.append(enc)
        out = _StrandWindows(windows)
        out.reverse = reverse
        return out


class _RecordBar:
    """The progress bar of a run, in records (those whose windows are all done), with windows done alongside:
    it moves batch by batch, so a long record's windows move the line before the record is done."""

    def __init__(self, stats: RunStats, total: int | None, unit: str = "records"):
        from dnallm.progress import Progress

        self.stats = stats
        self.bar = Progress(total=total, unit=unit, desc="dnallm")
        self.inputs = "windows" if unit == "records" else "model inputs"  # the model's windows, beside the unit

    @property
    def n(self) -> int:
        return self.bar.n

    def update(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()

    def watch(self, chunk: Chunk) -> AfterBatch:
        """The ``after_batch`` callback that moves the bar while ``chunk`` runs."""
        counts = chunk.counts
        owner = np.repeat(np.arange(len(counts)), counts)
        left = counts.copy()
        before, windows_before, n_windows = self.stats.seen, self.stats.windows, int(counts.sum())

        def advance(batch_index: np.ndarray) -> None:
            np.subtract.at(left, owner[batch_index], 1)
            self.bar.set_postfix_str(f"{windows_before + n_windows - int(left.sum()):,} {self.inputs}", refresh=False)
            self.bar.update(before + int((left == 0).sum()) - self.bar.n)

        return advance
