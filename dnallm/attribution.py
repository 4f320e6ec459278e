"""Per-base attribution: how much each base of a record drives one output of the model (the target).

One interface, four methods (:data:`METHODS`), all giving per-bp scores in record coordinates:

``ism``
    in-silico saturation mutagenesis. Every base of every window is set to each of A C G T in turn; each mutant is
    the window's own bases with that one change, tokenized alone like the reference window (``tokenizer.encode``),
    and all mutants go through the shared runner in token-budget batches. The **ISM deltas** ``ism[i, b]``
    (``(length, 4)``, columns A C G T) are ``target(mutant) - target(reference)``: 0 in the reference base's column.
    A record longer than one window is attributed window by window and a base's deltas are the mean over the windows
    that hold it (BPE windows: :func:`ism_windows`). A base ``N`` has no column of its own: its row holds the four
    deltas from N to A, C, G and T (no zero). The **per-bp score** is the reference base's value after centring the
    position's four values on their mean (the usual reduction of ISM): with the reference column 0,
    ``score[i] = 0 - mean(ism[i, :])`` over all four columns (for ``N``, the same formula: N itself counts as 0). A
    positive score: the reference base raises the target compared with the average base there.
``integrated_gradients``, ``gradient_x_input``
    gradients on the input embeddings, summed over the hidden dimension and projected onto bases
    (:func:`dnallm.gradients.base_attributions`).
``attention``
    the per-bp attention received (:func:`dnallm.attention_capture.attention_track`), of one ``layer`` or the
    mean over all layers (``layer="all"``); the target is the attention itself.

The target (:func:`dnallm.targets.target_head`) is the log-odds of a label for classifiers (default: the last
label), the value for regression, the mean log-probability for language models; its name is in the result.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dnallm.errors import DnallmError, InputError, OptionError
from dnallm.io.atomic import equal_runs, replaced
from dnallm.io.formats import npz_partial
from dnallm.io.options import InputOptions, Skipped
from dnallm.tokenization import Encoding

logger = logging.getLogger(__name__)

METHODS = ("ism", "integrated_gradients", "gradient_x_input", "attention")
BASES = "ACGT"
#: the most mutant encodings gathered for one call of the runner
CHUNK_ENCODINGS = 50_000
_INPUT = InputOptions()  # the default input policy


@dataclass
class Attribution:
    """Per-bp scores of ``n`` records, concatenated.

    Attributes:
        ids: ``n`` record ids, in input order.
        offsets: ``(n + 1,)`` int64; record ``i`` is ``scores[offsets[i]:offsets[i + 1]]``.
        scores: ``(total bp,)`` float32 per-bp scores.
        ism: ``(total bp, 4)`` float32 ISM deltas, columns A C G T (0 at the reference base); None for the
            other methods.
        method: one of :data:`METHODS`.
        target: what the scores explain (a label's log-odds, ``value``, ``mean_log_prob``, or the attention).
    """

    ids: list[str]
    offsets: np.ndarray
    scores: np.ndarray
    ism: np.ndarray | None
    method: str
    target: str

    @property
    def lengths(self) -> np.ndarray:
        """``(n,)`` int64 bp of each record."""
        return np.diff(self.offsets)

    def _index(self, i: int | str) -> int:
        if isinstance(i, str) and i not in self.ids:
            raise DnallmError(f"no record '{i}' in this attribution")
        return self.ids.index(i) if isinstance(i, str) else int(i)

    def scores_of(self, i: int | str) -> np.ndarray:
        """``(length,)`` per-bp scores of record ``i`` (its position, or its id)."""
        i = self._index(i)
        return self.scores[self.offsets[i] : self.offsets[i + 1]]

    def ism_of(self, i: int | str) -> np.ndarray:
        """``(length, 4)`` ISM deltas of record ``i`` (columns A C G T)."""
        if self.ism is None:
            raise DnallmError(f"{self.method} gives no ISM deltas; use method='ism'")
        i = self._index(i)
        return self.ism[self.offsets[i] : self.offsets[i + 1]]

    def write(self, path: str | Path, genome_coordinates: bool = True) -> None:
        """Write to ``.npz``, ``.bedgraph``/``.bg`` or ``.bw``/``.bigwig`` (by the suffix), whole or not at all;
        ``genome_coordinates``: tracks place ``chrom:start-end`` records there (see :meth:`write_bedgraph`)."""
        suffix = Path(path).suffix.lower()
        if suffix == ".npz":
            return self.write_npz(path)
        writer = {".bedgraph": self.write_bedgraph, ".bg": self.write_bedgraph, ".bw": self.write_bigwig,
                  ".bigwig": self.write_bigwig}.get(suffix)
        if writer is None:
            raise DnallmError(f"{path}: attribution output must be .npz, .bedgraph or .bw")
        writer(path, genome_coordinates)

    def write_npz(self, path: str | Path) -> None:
        """``.npz`` (no pickles): ``ids`` (n,) str, ``offsets`` (n+1,) int64, ``scores`` (total bp,) float32,
        ``ism`` (total bp, 4) float32 (ISM only), ``method`` and ``target`` (0-d str). Read with :meth:`read_npz`."""
        arrays = dict(ids=np.array(self.ids, dtype=str), offsets=np.asarray(self.offsets, np.int64),
                      scores=np.asarray(self.scores, np.float32), method=np.array(self.method),
                      target=np.array(self.target), **({} if self.ism is None else {"ism": self.ism}))
        with replaced(path, npz_partial(path)) as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def read_npz(cls, path: str | Path) -> Attribution:
        """An attribution written by :meth:`write_npz`."""
        with np.load(path, allow_pickle=False) as saved:
            return cls([str(i) for i in saved["ids"]], saved["offsets"], saved["scores"],
                       saved["ism"] if "ism" in saved else None, str(saved["method"]), str(saved["target"]))

    def write_bedgraph(self, path: str | Path, genome_coordinates: bool = True) -> None:
        """bedGraph of the per-bp scores, every record in order, equal neighbours merged. A record whose id is
        ``chrom:start-end`` or ``chrom:start-end(+)``/``(-)`` (and as long as that interval) is placed there, a
        ``(-)`` record's scores reversed onto the forward strand (:func:`dnallm.io.tracks.genome_position`); any
        other, or every record with ``genome_coordinates=False``, on a chromosome named by its id, from 0."""
        with replaced(path, f"{path}.partial") as tmp, open(tmp, "w", encoding="utf-8") as out:
            out.write(f'track type=bedGraph name="dnallm {self.method}" description="dnallm {self.method} '
                      f'per bp, target {self.target}"\n')
            for chrom, start, values in self._placed(genome_coordinates):
                starts, ends = equal_runs(values)
                out.writelines(f"{chrom}\t{start + lo}\t{start + hi}\t{values[lo]:.6g}\n"
                               for lo, hi in zip(starts, ends))

    def write_bigwig(self, path: str | Path, genome_coordinates: bool = True) -> None:
        """bigWig of the per-bp scores (pyBigWig: ``pip install 'dnallm[bigwig]'``), placed as in
        :meth:`write_bedgraph`; the header's chromosome sizes are a plain id's length, and for ``chrom:start-end``
        ids the largest end on that chrom. Records may come in any order; two overlapping on one chromosome are
        refused (:func:`dnallm.io.bigwig.write_bigwig`)."""
        from dnallm.io.bigwig import Track, write_bigwig

        write_bigwig(path, [Track(rid, chrom, start, values) for rid, (chrom, start, values)
                            in zip(self.ids, self._placed(genome_coordinates))])

    def _placed(self, genome_coordinates: bool) -> Iterator[tuple[str, int, np.ndarray]]:
        """``(chrom, start, values)`` of each record, its float64 scores in forward-strand order."""
        from dnallm.io.tracks import genome_position

        for i, rid in enumerate(self.ids):
            values = self.scores_of(i).astype(np.float64)
            if not genome_coordinates:
                yield rid, 0, values
                continue
            chrom, start, reverse = genome_position(rid, len(values))
            yield chrom, start, values[::-1] if reverse else values


# -- the entry point -------------------------------------------------------------------------------------------


def attribute(runner: Any, loaded: Any, source: Any, method: str = "ism", target: str | None = None,
              options: InputOptions = _INPUT, progress: bool = False, layer: int | str = -1,
              steps: int = 50, model_name: str = "the model") -> Attribution:
    """Per-bp attribution of every record of ``source`` (anything :func:`dnallm.iter_records` takes).

    Args:
        runner: the :class:`dnallm.runner.Runner` of the model; ``loaded`` its :class:`~dnallm.modeling.LoadedModel`.
        method: one of :data:`METHODS` (see the module docstring).
        target: a label name (default: the last label); not for ``attention``.
        options: the input policy (a record too short for one token is skipped under ``on_error="skip"``).
        progress: a progress bar in records on stderr.
        layer, steps: ``attention``: a layer (negative from the end) or ``"all"`` (their mean);
            ``integrated_gradients``: steps of the path integral.
    """
    if method not in METHODS:
        raise OptionError(f"unknown attribution method {method!r}; use one of {', '.join(METHODS)}")
    if method == "attention":
        if target is not None:
            raise OptionError("method 'attention' explains no target; leave target out")
        return _per_record(runner, source, options, progress, method, attention_name(layer),
                           lambda rec: _attention_scores(runner, rec, layer))
    from dnallm.targets import target_head

    head, name = target_head(loaded.head, loaded.model.config, target, model_name)
    if method == "ism":
        return ism(runner, source, head, name, options, progress)
    try:
        from dnallm.gradients import base_attributions
    except ImportError as exc:
        raise DnallmError(f"method {method!r} needs dnallm.gradients, which this dnallm lacks ({exc})") from None
    return _per_record(runner, source, options, progress, method, name,
                       lambda rec: base_attributions(runner, rec, head, method, steps=steps))


def attention_name(layer: int | str) -> str:
    """What attention scores of ``layer`` (a number or ``"all"``) are called in results; a bad layer refused."""
    if layer != "all" and not isinstance(layer, (int, np.integer)):
        raise OptionError(f"layer must be a layer number or 'all', not {layer!r}")
    return "attention (mean over all layers)" if layer == "all" else f"attention (layer {layer})"


def _attention_scores(runner: Any, rec: Any, layer: int | str) -> np.ndarray:
    """Per-bp attention received over ``rec``, ``(length,)``: one layer, or the mean over all layers."""
    from dnallm import attention_capture as capture

    if layer != "all":
        return capture.attention_track(runner, rec, int(layer), "mean", "auto")
    total, count = np.zeros(len(rec)), np.zeros(len(rec))
    for enc in runner.windows(rec):
        amap = capture.attention_map(runner, rec, enc, "all", "mean", "auto", max_bins=1)
        total[amap.start : amap.end] += amap.track.mean(0)
        count[amap.start : amap.end] += 1
    return total / np.maximum(count, 1)


def _records(source: Any, options: InputOptions, pending: list[Skipped]) -> Iterator[Any]:
    """The records of ``source``; records skipped while reading go to ``pending`` (reported by the caller)."""
    from dnallm.io.fasta import iter_records

    quiet = replace(options, on_skip=pending.append) if options.skipping else options
    return iter_records(source, options=quiet)


def _skip_or_raise(rec: Any, exc: InputError, options: InputOptions) -> None:
    """A record that cannot be attributed (e.g. shorter than one k-mer): skipped, or the run stops."""
    message = f"{rec.origin}: {exc}" if rec.origin and rec.origin not in str(exc) else str(exc)
    if not options.skipping:
        raise InputError(message, reason=exc.reason) from None
    options.report(Skipped(rec.id, rec.origin, exc.reason))


def _report(pending: list[Skipped], options: InputOptions) -> None:
    for item in pending:
        options.report(item)
    pending.clear()


def _per_record(runner: Any, source: Any, options: InputOptions, progress: bool, method: str, target: str,
                scores_of: Any) -> Attribution:
    """Methods that score one record at a time (attention, gradients)."""
    from dnallm.progress import Progress

    ids, scores, pending = [], [], []
    bar = Progress(desc=f"dnallm {method}", unit="records", disable=not progress)
    try:
        for rec in _records(source, options, pending):
            _report(pending, options)
            try:
                values = np.asarray(scores_of(rec), dtype=np.float32)
            except InputError as exc:
                _skip_or_raise(rec, exc, options)
                continue
            ids.append(rec.id)
            scores.append(values)
            bar.update(1)
        _report(pending, options)
    finally:
        bar.close()
    return _assemble(ids, scores, None, method, target)


def _assemble(ids: list[str], scores: list[np.ndarray], ism: list[np.ndarray] | None, method: str,
              target: str) -> Attribution:
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in scores], out=offsets[1:])
    flat = np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32)
    deltas = None if ism is None else np.concatenate(ism or [np.zeros((0, 4))]).astype(np.float32)
    return Attribution(ids, offsets, flat, deltas, method, target)


# -- ISM ---------------------------------------------------------------------------------------------------------


def bpe_slack(max_tokens: int) -> int:
    """Tokens an ISM window of a BPE model leaves free for mutants that tokenize longer than their reference:
    a 32nd of the model's length, at least 4."""
    return max(4, -(-max_tokens // 32))


def ism_windows(runner: Any, rec: Any) -> list[Encoding]:
    """The windows ISM attributes ``rec`` by (bp spans on the record): the runner's, or for a BPE model windows
    :func:`bpe_slack` tokens shorter when the runner's leave mutants no room."""
    windows, tokenizer = runner.windows(rec), runner.tokenizer
    slack = bpe_slack(tokenizer.max_tokens or 0)
    if tokenizer.family != "bpe" or tokenizer.max_tokens is None or all(
            len(w) <= tokenizer.max_tokens - slack for w in windows):
        return windows
    narrow = copy.copy(tokenizer)
    narrow.max_tokens = max(tokenizer.max_tokens - slack, tokenizer.n_special + 1)
    return narrow.windows(rec, overlap=runner.window_overlap)


@dataclass
class _Block:
    """Mutants of one window's bp ``covered``, at chunk positions ``first`` on, their reference at ``ref``."""

    record: int
    ref: int
    first: int
    positions: list[int]  # record bp of each mutant
    bases: list[int]  # its column (A C G T)
    covered: list[int]


@dataclass
class _IsmChunk:
    encodings: list[Encoding] = field(default_factory=list)
    blocks: list[_Block] = field(default_factory=list)
    records: list[tuple[str, int]] = field(default_factory=list)  # (id, length) of records begun in this chunk
    skipped: list[Skipped] = field(default_factory=list)
    finished: int = 0  # records whose every mutant is in this chunk or an earlier one
    tokens: int = 0


def _encode_at(tokenizer: Any, seq: str, window: Encoding, rid: str, mutant: str = "") -> Encoding:
    """``seq`` (the bases of ``window``, or its ``mutant``) tokenized alone, spans moved to record bp."""
    try:
        enc = tokenizer.encode(seq, record_id=rid)
    except InputError as exc:
        raise InputError.at(f"record '{rid}'", f"the mutant {mutant} of window {window.window} takes more tokens "
                            f"than the model's {tokenizer.max_tokens} ({exc.reason}); give a smaller max_tokens"
                            ) from None
    spans = np.where(enc.spans >= 0, enc.spans + window.start, enc.spans)
    return replace(enc, spans=spans, start=enc.start + window.start, end=enc.end + window.start)


def _ism_chunks(runner: Any, records: Iterator[Any], pending: list[Skipped],
                options: InputOptions) -> Iterator[_IsmChunk]:
    """Every record's reference windows and single-base mutants, packed into chunks of about the runner's chunk
    of tokens (at most :data:`CHUNK_ENCODINGS` encodings); runs on the prefetch thread."""
    budget = runner.chunk_batches * runner.max_batch_tokens
    tokenizer = runner.tokenizer
    quiet = replace(options, on_skip=pending.append)
    chunk, done = _IsmChunk(), 0
    for rec in records:
        try:
            windows = ism_windows(runner, rec)
        except InputError as exc:
            _skip_or_raise(rec, exc, quiet)
            continue
        chunk.skipped.extend(pending)
        pending.clear()
        chunk.records.append((rec.id, len(rec)))
        for w in windows:
            bases = rec.seq[w.start : w.end]
            block = None
            for i, ref_base in enumerate(bases):
                if block is None:  # a block's mutants and their reference travel in one chunk
                    block = _Block(done, len(chunk.encodings), len(chunk.encodings) + 1, [], [], [])
                    chunk.encodings.append(_encode_at(tokenizer, bases, w, rec.id, "(none: the reference)"))
                    chunk.blocks.append(block)
                for column, alt in enumerate(BASES):
                    if alt != ref_base:
                        enc = _encode_at(tokenizer, bases[:i] + alt + bases[i + 1 :], w, rec.id,
                                         f"{alt} at bp {w.start + i:,}")
                        chunk.encodings.append(enc)
                        chunk.tokens += len(enc)
                        block.positions.append(w.start + i)
                        block.bases.append(column)
                block.covered.append(w.start + i)
                if chunk.tokens >= budget or len(chunk.encodings) >= CHUNK_ENCODINGS:
                    chunk.finished = done
                    yield chunk
                    chunk, block = _IsmChunk(), None
        done += 1
        chunk.finished = done
    chunk.skipped.extend(pending)
    pending.clear()
    yield chunk


def ism(runner: Any, source: Any, head: Any, target: str, options: InputOptions = _INPUT,
        progress: bool = False) -> Attribution:
    """Saturation mutagenesis of every record of ``source`` with the target ``head`` (``compute`` ->
    ``(batch, 1)``; see :func:`dnallm.targets.target_head`), named ``target``: see the module docstring for
    the deltas and the per-bp score. Statistics of the run in ``runner.last_run`` (records, batches, tokens)."""
    from dnallm.batching import prefetch
    from dnallm.progress import Progress
    from dnallm.runner import RunStats

    stats, start, pending = RunStats(), time.perf_counter(), []
    runner.last_run = stats
    ids, totals, counts = [], [], []  # per record: id, (length, 4) sums of deltas, (length,) windows
    bar = Progress(desc="dnallm ism", unit="records", disable=not progress)
    try:
        for chunk in prefetch(_ism_chunks(runner, _records(source, options, pending), pending, options)):
            stats.skipped.extend(chunk.skipped)
            _report(chunk.skipped, options)
            for rid, length in chunk.records:
                ids.append(rid)
                totals.append(np.zeros((length, 4)))
                counts.append(np.zeros(length))
            if chunk.encodings:
                out = runner.forward(chunk.encodings, head)[:, 0].astype(np.float64)
                for block in chunk.blocks:
                    mutants = out[block.first : block.first + len(block.positions)]
                    totals[block.record][block.positions, block.bases] += mutants - out[block.ref]
                    counts[block.record][block.covered] += 1
            bar.update(chunk.finished - bar.n)
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - start
    stats.records = len(ids)
    deltas = [total / np.maximum(count, 1)[:, None] for total, count in zip(totals, counts)]
    return _assemble(ids, [-d.mean(1) for d in deltas], deltas, "ism", target)
