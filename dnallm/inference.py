"""DNAInference: a thin facade that reads records, windows them, batches the windows, runs the model and gives
one result per record, in input order.

Aggregation rule for records longer than the model's input: every window is run, and a record's output is the
mean of its windows' outputs (probabilities, values, mean log-probabilities or pooled embeddings), each window
weighted equally. ``predict(..., per_window=True)`` returns the windows' own outputs with their bp coordinates.

Both strands (``both_strands=True``, CLI ``--both-strands``): every window is run twice, as it is and as its
reverse complement (the window's own bases ``seq[start:end]`` reverse-complemented and tokenized alone), and the
window's output is the mean of the two. A window's coordinates stay those of the forward strand, so per-window
rows and the aggregation rule are the same as with one strand. This is the reverse complement of each window,
not the windows of the reverse-complemented record: the pairs cover the same bases, and a record's output is the
mean of its forward-strand and reverse-strand outputs.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from dnallm.batching import pad_batch, plan_batches, prefetch
from dnallm.errors import DnallmError, InputError
from dnallm.io.fasta import Record, SequenceInput, SkipCallback, Skipped, count_records, iter_records
from dnallm.modeling import (
    LoadedModel,
    attention_type_for,
    bigbird_full_attention_limit,
    load_model,
    no_bigbird_attention_map,
)
from dnallm.registry import DEFAULT_MODEL
from dnallm.tokenization import Encoding

if TYPE_CHECKING:
    from dnallm.attention import AttentionMap

logger = logging.getLogger(__name__)

_RESERVED = ("id", "length", "n_windows", "window", "start", "end")

#: records shorter than this share of the trained minimum, or longer than this multiple of the trained maximum,
#: are warned about (see DNAInference.trained_length_bp)
TRAINED_LENGTH_FACTOR = (0.5, 2.0)


@dataclass
class RunStats:
    """What the last ``predict``/``embed`` call did (for benchmarks and for checking BigBird's attention)."""

    records: int = 0
    windows: int = 0
    batches: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    seconds: float = 0.0
    attention_types: Counter = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    excluded: int = 0
    #: records far outside the model's trained length (see :attr:`DNAInference.trained_length_bp`)
    too_short: int = 0
    too_long: int = 0
    shortest: int | None = None
    longest: int = 0

    @property
    def padding_fraction(self) -> float:
        """Share of the computed tokens that were padding."""
        return 0.0 if not self.padded_tokens else 1 - self.tokens / self.padded_tokens


class DNAInference:
    """Predictions and embeddings from a pretrained DNA language model.

    Args:
        model: a local model directory, a models.yaml name (``dnallm models``) or a Hugging Face hub id. Default:
            the embedded demo model ``demo-oct4-mafk`` (Oct4 vs Mafk ChIP-seq peaks), which works offline.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
        dtype: ``"auto"`` (float32 on CPU; bfloat16 or float16 on CUDA), ``"float32"``, ``"bfloat16"``, ``"float16"``.
        attn_implementation: ``"auto"``, ``"flash_attention_2"``, ``"sdpa"`` or ``"eager"``; the choice made at
            load is :attr:`attn_implementation` and is logged with its reason.
        max_batch_tokens: the most tokens (padding included) one forward pass may hold; default 4,096 on CPU
            (small batches of similar lengths waste the least compute on padding there) and 16,384 on a GPU.
        trust_remote_code: allow models whose repository ships Python code (HyenaDNA, Caduceus, DNABERT-2, NT v2).
            Read that code first.
        revision: hub branch, tag or commit.
        tokenizer_family, k, max_tokens: override the registry or what is detected from the model.
        window_overlap: tokens shared by consecutive windows of a long record (default a tenth of a window), from
            0 to one less than a window's sequence tokens. Windows are cut in tokens: for the overlapping k-mer and
            single-nucleotide families a token starts at every bp, so this is also bp there.
        allow_pickle: load weights stored only as a pickle (``pytorch_model.bin``). Off by default: unpickling
            can run code hidden in the file, so dnallm loads safetensors weights unless you allow this.

    Attributes:
        head: what the model computes (see :mod:`dnallm.modeling`): decides the columns of :meth:`predict`.
        output_columns: those columns.
        last_run: :class:`RunStats` of the last call.
        trained_length_bp: ``(shortest, longest)`` bp of the sequences the model was trained on, where its
            config.json states it (``"dnallm_trained_length_bp": [min, max]``, as the embedded demo model's does),
            else None. Records shorter than half the shortest or longer than twice the longest are counted in
            one warning per run: the model's outputs there are extrapolations.
    """

    #: records are tokenized ahead and planned into batches this many batches' worth of tokens at a time
    chunk_batches = 64

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        attn_implementation: str = "auto",
        max_batch_tokens: int | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        tokenizer_family: str | None = None,
        k: int | None = None,
        max_tokens: int | None = None,
        window_overlap: int | None = None,
        allow_pickle: bool = False,
    ):
        if model is None:
            model = DEFAULT_MODEL
        if max_batch_tokens is not None and max_batch_tokens < 1:
            raise DnallmError(f"max_batch_tokens must be positive, not {max_batch_tokens}")
        self._loaded: LoadedModel = load_model(
            model,
            device=device,
            dtype=dtype,
            attn_implementation=attn_implementation,
            trust_remote_code=trust_remote_code,
            revision=revision,
            tokenizer_family=tokenizer_family,
            k=k,
            max_tokens=max_tokens,
            allow_pickle=allow_pickle,
        )
        self.name = str(model)
        if max_batch_tokens is None:
            max_batch_tokens = 16384 if self.device.type == "cuda" else 4096
        self.max_batch_tokens = max_batch_tokens
        _check_overlap(window_overlap, self.tokenizer.max_content_tokens)
        self.window_overlap = window_overlap
        self.trained_length_bp = _trained_length(self.model.config, self.name)
        self.last_run = RunStats()
        config = self.model.config
        if self.head in ("classification", "multilabel"):
            labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
            self.output_columns = [f"p_{label}" if label in _RESERVED else label for label in labels]
        elif self.head == "regression":
            self.output_columns = ["value"] if config.num_labels == 1 else [
                f"value_{config.id2label.get(i, i)}" for i in range(config.num_labels)
            ]
        elif self.head in ("masked_lm", "causal_lm"):
            self.output_columns = ["mean_log_prob"]
        else:
            self.output_columns = []
        block = getattr(config, "block_size", None) if getattr(config, "attention_type", "") == "block_sparse" else None
        self._block_size: int | None = block

    # -- what was loaded ----------------------------------------------------------------------------------------

    @property
    def model(self) -> Any:
        """The transformers model, in eval mode."""
        return self._loaded.model

    @property
    def tokenizer(self):
        """The :class:`dnallm.DNATokenizer` of the model's family."""
        return self._loaded.tokenizer

    @property
    def head(self) -> str:
        return self._loaded.head

    @property
    def device(self) -> torch.device:
        return self._loaded.device

    @property
    def dtype(self) -> torch.dtype:
        return self._loaded.dtype

    @property
    def attn_implementation(self) -> str:
        """The attention backend chosen at load: ``flash_attention_2``, ``sdpa`` or ``eager``."""
        return self._loaded.attn_implementation

    def __repr__(self) -> str:
        return (
            f"DNAInference({self.name!r}, head={self.head!r}, device={str(self.device)!r}, "
            f"dtype={str(self.dtype).removeprefix('torch.')!r}, attn={self.attn_implementation!r}, "
            f"tokenizer={self.tokenizer!r})"
        )

    # -- public calls ---------------------------------------------------------------------------------------------

    def result_columns(self, kind: str = "predict", per_window: bool = False) -> list[str]:
        """The columns of ``predict`` (``kind="predict"``) or ``iter_embed`` (``"embed"``) results, known before
        any record runs: ``id``, ``length``, ``n_windows`` (then ``window``, ``start``, ``end`` per window), then
        :attr:`output_columns` or ``dim_0`` ... ``dim_{hidden_size-1}``."""
        base = ["id", "length", "n_windows"] + (["window", "start", "end"] if per_window else [])
        if kind == "embed":
            return base + [f"dim_{i}" for i in range(self.model.config.hidden_size)]
        return base + self.output_columns

    def predict(
        self,
        source: SequenceInput,
        *,
        per_window: bool = False,
        progress: bool = False,
        iupac: str = "n",
        uracil: str = "t",
        on_error: str = "fail",
        on_skip: SkipCallback | None = None,
        both_strands: bool = False,
    ) -> pd.DataFrame:
        """One row per record, in input order.

        Args:
            source: a FASTA path, a sequence string, a list, a dict or an iterable of records
                (see :func:`dnallm.iter_records`).
            per_window: one row per window instead, with ``window``, ``start`` and ``end`` (bp on the record).
            progress: show a progress bar with records/s on stderr.
            iupac, uracil: the alphabet policy (see :mod:`dnallm.io.fasta`).
            on_error: ``"fail"`` (default) raises at the first bad record; ``"skip"`` leaves bad records out (a
                character outside the policy, no sequence, a repeated id, too short for one token) and goes on.
                The skipped records are in ``last_run.skipped`` and passed to ``on_skip`` as they happen.
            both_strands: each window's output is the mean of its own and its reverse complement's outputs (see
                the module's docstring); coordinates stay on the forward strand.

        Returns:
            DataFrame with ``id``, ``length`` (bp), ``n_windows``, then :attr:`output_columns` (float32, the
            model's precision; a record's windows are averaged in float64).
        """
        frames = list(self.iter_predict(source, per_window=per_window, progress=progress, iupac=iupac, uracil=uracil,
                                        on_error=on_error, on_skip=on_skip, both_strands=both_strands))
        if not frames:
            columns = self.result_columns("predict", per_window=per_window)
            return pd.DataFrame({c: pd.Series(dtype=object if c == "id" else
                                              np.float32 if c in self.output_columns else np.int64)
                                 for c in columns})
        return pd.concat(frames, ignore_index=True)

    def iter_predict(
        self,
        source: SequenceInput,
        *,
        per_window: bool = False,
        progress: bool = False,
        iupac: str = "n",
        uracil: str = "t",
        on_error: str = "fail",
        on_skip: SkipCallback | None = None,
        exclude_ids: Container[str] = (),
        both_strands: bool = False,
    ) -> Iterator[pd.DataFrame]:
        """Like :meth:`predict`, streamed: DataFrames of consecutive records, in input order, as they are done.

        ``exclude_ids``: records with these ids are read and checked but not run and not returned (how
        ``dnallm predict --resume`` continues a run).
        """
        if self.head == "encoder":
            raise DnallmError(
                f"{self.name} is a bare encoder without a prediction head: it has nothing to predict; "
                "use embed() (CLI: dnallm embed) for its embeddings"
            )
        for records, windows, values in self._run(source, "predict", progress, iupac, uracil, on_error, on_skip,
                                                  exclude_ids, both_strands=both_strands):
            yield self._frame(records, windows, values, per_window)

    def embed(
        self,
        source: SequenceInput,
        *,
        pooling: str = "mean",
        progress: bool = False,
        iupac: str = "n",
        uracil: str = "t",
        on_error: str = "fail",
        on_skip: SkipCallback | None = None,
        both_strands: bool = False,
    ) -> tuple[list[str], np.ndarray]:
        """Per-record embeddings from the last hidden layer.

        Args:
            pooling: ``"mean"`` over the record's sequence tokens (special tokens and padding excluded), or
                ``"cls"``: the first special token's vector (for models that add one).
            on_error, on_skip, both_strands: as in :meth:`predict`.

        Returns:
            ids in input order, and a float32 array ``(n_records, hidden_size)``. Long records: the mean of their
            windows' embeddings.
        """
        ids: list[str] = []
        arrays: list[np.ndarray] = []
        kind = _embed_kind(pooling, self)
        for records, windows, values in self._run(source, kind, progress, iupac, uracil, on_error, on_skip,
                                                  both_strands=both_strands):
            ids.extend(r.id for r in records)
            arrays.append(_per_record(values, windows).astype(np.float32))
        if not arrays:
            return ids, np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return ids, np.concatenate(arrays)

    def iter_embed(
        self, source: SequenceInput, *, pooling: str = "mean", progress: bool = False, iupac: str = "n",
        uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
        exclude_ids: Container[str] = (), both_strands: bool = False,
    ) -> Iterator[pd.DataFrame]:
        """Embeddings streamed as DataFrames: ``id``, ``length``, ``n_windows``, ``dim_0`` ... ``dim_{h-1}``."""
        kind = _embed_kind(pooling, self)
        for records, windows, values in self._run(source, kind, progress, iupac, uracil, on_error, on_skip,
                                                  exclude_ids, both_strands=both_strands):
            vectors = _per_record(values, windows).astype(np.float32)
            frame = pd.DataFrame(vectors, columns=[f"dim_{i}" for i in range(values.shape[1])])
            frame.insert(0, "n_windows", [len(w) for w in windows])
            frame.insert(0, "length", [len(r) for r in records])
            frame.insert(0, "id", [r.id for r in records])
            yield frame

    # -- attention ----------------------------------------------------------------------------------------------

    def attentions(
        self,
        record: Record | tuple[str, str] | str,
        layers: int | Sequence[int] | str = -1,
        heads: int | Sequence[int] | str = "all",
        *,
        window: int | None = None,
        region: tuple[int, int] | None = None,
        query: str = "auto",
        max_bins: int = 1024,
    ) -> AttentionMap:
        """Attention of the chosen layers over one record (one window of it when it is longer than the model).

        Runs one forward pass with eager attention, for this call only (the backend :meth:`predict` uses is
        restored after), and keeps the weights of the asked layers alone.

        Args:
            record: a :class:`Record`, an ``(id, sequence)`` pair, a DNA string, or a FASTA file of one record.
            layers: a layer number (negative from the end), a list of them, or ``"all"``.
            heads: ``"all"``, a head number, a list of them, or ``"mean"`` (keep only the mean over heads).
            window: which window of a long record, 0-based (default: the first, or with ``region`` a window
                centred on it: :attr:`AttentionMap.window` is then -1 unless that is one of the record's windows).
            region: ``(start, end)`` in record bp that the window must contain.
            query: the per-bp track's query, ``"cls"`` (first special token), ``"mean"`` (all sequence tokens),
                or ``"auto"``: ``cls`` when the tokenizer adds a leading special token, else ``mean``.
            max_bins: the bp x bp matrix is binned to at most this many bins per axis.

        Returns:
            :class:`dnallm.attention.AttentionMap`.
        """
        rec = single_record(record)
        encodings = self.tokenizer.windows(rec, overlap=self.window_overlap)
        enc = _pick_window(rec, encodings, window, region, self.tokenizer, self.window_overlap)
        return self._attention_map(rec, enc, layers, heads, query, max_bins)

    def _attention_map(
        self, rec: Record, enc: Encoding, layers: int | Sequence[int] | str, heads: int | Sequence[int] | str,
        query: str, max_bins: int,
    ) -> AttentionMap:
        """The attention of one window ``enc`` of ``rec``: one eager forward pass (see :meth:`attentions`)."""
        from dnallm.attention import (
            AttentionMap,
            bin_size_for,
            capture_layers,
            check_attention_memory,
            eager_attention,
            resolve_heads,
            resolve_layers,
        )

        config = self.model.config
        layer_list = resolve_layers(layers, config.num_hidden_layers)
        head_list = resolve_heads(heads, config.num_attention_heads)
        sparse = bool(self._block_size) and len(enc) > bigbird_full_attention_limit(config)
        check_attention_memory(len(enc), layer_list, head_list, config.num_attention_heads,
                               self._block_size if sparse else None, self.device, rec.id)
        ids = torch.as_tensor(enc.input_ids, device=self.device)[None]
        with torch.inference_mode(), eager_attention(self.model), attention_type_for(self.model, len(enc)) as kind:
            with capture_layers(self.model, layer_list, head_list, len(enc)) as captured:
                self.model.base_model(input_ids=ids, attention_mask=torch.ones_like(ids))
        if query == "auto":
            query = "cls" if len(self.tokenizer.prefix_ids) else "mean"
        return AttentionMap(
            record_id=rec.id,
            window=enc.window,
            n_windows=enc.n_windows,
            start=enc.start,
            end=enc.end,
            sequence=rec.seq[enc.start : enc.end],
            layers=layer_list,
            heads=head_list,
            weights=captured,
            input_ids=enc.input_ids,
            tokens=self.tokenizer.hf.convert_ids_to_tokens(enc.input_ids.tolist()),
            spans=enc.spans,
            bin_size=bin_size_for(enc.end - enc.start, max_bins),
            track_query=query,
            attention_type=kind,
            n_layers=config.num_hidden_layers,
        )

    def attention_track(
        self, record: Record | tuple[str, str] | str, layer: int = -1, head: int | Sequence[int] | str = "mean",
        query: str = "auto",
    ) -> np.ndarray:
        """Per-bp attention received over a whole record, ``(length,)``: each window's track, averaged where
        windows overlap (see :mod:`dnallm.attention` for the projection and the query)."""
        rec = single_record(record)
        total = np.zeros(len(rec))
        count = np.zeros(len(rec))
        for enc in self.tokenizer.windows(rec, overlap=self.window_overlap):  # tokenized once, every window run
            amap = self._attention_map(rec, enc, layer, "mean" if head == "mean" else head, query, max_bins=1)
            track = amap.track_for(amap.layers[0], "mean" if head == "mean" else head)
            total[amap.start : amap.end] += track
            count[amap.start : amap.end] += 1
        return total / np.maximum(count, 1)

    def find_motifs(
        self,
        positives: SequenceInput,
        background: SequenceInput,
        *,
        layer: int = -1,
        head: int | Sequence[int] | str = "mean",
        query: str = "auto",
        progress: bool = False,
        **settings: Any,
    ):
        """Motifs where this model's attention is high in ``positives``, enriched over ``background``, matched to
        JASPAR: :func:`dnallm.motifs.discover_motifs` on the per-bp attention tracks of ``layer``.

        ``settings`` go to :func:`~dnallm.motifs.discover_motifs` (``k``, ``alpha``, ``min_len``, ...).
        Returns a :class:`dnallm.motifs.MotifResult`.
        """
        from dnallm.motifs import discover_motifs
        from dnallm.progress import Progress

        pos = list(iter_records(positives))
        bg = list(iter_records(background))
        scores = [
            self.attention_track(rec, layer=layer, head=head, query=query)
            for rec in Progress(pos, desc="attention", unit="records", disable=not progress)
        ]
        return discover_motifs(pos, scores, bg, **settings)

    def plot_attentions(
        self,
        record: Record | tuple[str, str] | str,
        layer: int = -1,
        head: int | Sequence[int] | str = "mean",
        *,
        region: tuple[int, int] | None = None,
        window: int | None = None,
        track: bool = True,
        max_bins: int = 512,
        **kwargs: Any,
    ):
        """A heatmap of one layer's attention over base-pair positions; see :func:`dnallm.plotting.plot_attention`.

        ``head``: ``"mean"`` (all heads averaged), a head number, or a list of heads (one panel each). ``region``
        zooms into record bp ``(start, end)``; long windows are binned to ``max_bins``. Returns a matplotlib
        Figure (save it with ``fig.savefig("attention.png")``, ``.pdf`` or ``.svg``).
        """
        from dnallm.plotting import plot_attention

        heads = "mean" if isinstance(head, str) else head
        amap = self.attentions(record, layers=layer, heads=heads, window=window, region=region, max_bins=max_bins)
        return plot_attention(amap, head=head, region=region, track=track, max_bins=max_bins, **kwargs)

    # -- the engine -----------------------------------------------------------------------------------------------

    def _chunks(
        self, records: Iterator[Record], skip: SkipCallback | None = None, exclude_ids: Container[str] = (),
        stats: RunStats | None = None, both_strands: bool = False,
    ) -> Iterator[tuple[list[Record], list[list[Encoding]]]]:
        """Records with their windows, in chunks of ``chunk_batches`` batches' worth of tokens (tokenized ahead).

        Batches are planned within a chunk: the larger it is, the fewer part-filled batches and the less padding
        (benchmarks/README.md, "Throughput"); results are handed on, and written, chunk by chunk.
        """
        budget = self.chunk_batches * self.max_batch_tokens
        recs: list[Record] = []
        wins: list[list[Encoding]] = []
        tokens = 0
        for rec in records:
            if exclude_ids and rec.id in exclude_ids:
                if stats is not None:
                    stats.excluded += 1
                continue
            try:
                windows = self.tokenizer.windows(rec, overlap=self.window_overlap)
                if both_strands:
                    windows = self._with_reverse(rec, windows)
            except InputError as exc:  # e.g. shorter than one k-mer
                message = f"{rec.origin}: {exc}" if rec.origin and rec.origin not in str(exc) else str(exc)
                if skip is None:
                    raise InputError(message, reason=exc.reason) from None
                skip(Skipped(rec.id, rec.origin, exc.reason))
                continue
            recs.append(rec)
            wins.append(windows)
            tokens += sum(len(w) for w in windows) * (2 if both_strands else 1)
            if tokens >= budget or len(recs) >= 8192:
                yield recs, wins
                recs, wins, tokens = [], [], 0
        if recs:
            yield recs, wins

    def _run(
        self, source: SequenceInput, kind: str, progress: bool, iupac: str, uracil: str, on_error: str = "fail",
        on_skip: SkipCallback | None = None, exclude_ids: Container[str] = (), both_strands: bool = False,
    ) -> Iterator[tuple[list[Record], list[list[Encoding]], np.ndarray]]:
        """Yield (records, their windows, per-record or per-window outputs) chunk by chunk, in input order."""
        if on_error not in ("fail", "skip"):
            raise DnallmError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
        stats = RunStats()
        self.last_run = stats

        def skipped(item: Skipped) -> None:
            stats.skipped.append(item)
            if on_skip is not None:
                on_skip(item)

        skip = skipped if on_error == "skip" else None
        start = time.perf_counter()
        bar = None
        if progress:
            from dnallm.progress import Progress

            total = count_records(source) if isinstance(source, (str, Path)) else None
            bar = Progress(total=total, unit="records", desc="dnallm")
        try:
            records = iter_records(source, iupac=iupac, uracil=uracil, on_error=on_error, on_skip=skipped)
            chunks = prefetch(self._chunks(records, skip, exclude_ids, stats, both_strands))
            for recs, wins in chunks:
                flat = [w for ws in wins for w in ws]
                advance = None
                if bar is not None:  # the bar moves batch by batch: records whose windows are all done
                    owner = np.repeat(np.arange(len(recs)), [len(ws) for ws in wins])
                    left = np.bincount(owner, minlength=len(recs))
                    before = stats.records + len(stats.skipped) + stats.excluded

                    windows_before = stats.windows

                    def advance(batch_index: np.ndarray) -> None:
                        # windows done are shown too: a long record's windows move the line before it is done
                        np.subtract.at(left, owner[batch_index], 1)
                        done_windows = windows_before + len(flat) - int(left.sum())
                        bar.set_postfix_str(f"{done_windows:,} windows", refresh=False)
                        bar.update(before + int((left == 0).sum()) - bar.n)

                if both_strands:
                    values = self._forward_both_strands(flat, wins, kind, stats, advance)
                else:
                    values = self._forward_all(flat, kind, stats, advance)
                stats.records += len(recs)
                stats.windows += len(flat)
                self._count_lengths(recs, stats)
                yield recs, wins, values
                if bar is not None:
                    done = stats.records + len(stats.skipped) + stats.excluded
                    bar.update(done - bar.n)
        finally:
            if bar is not None:
                bar.close()
            stats.seconds = time.perf_counter() - start
        self._warn_lengths(stats)
        if stats.skipped:
            shown = "; ".join(f"'{s.id}' ({s.where})" for s in stats.skipped[:3])
            logger.warning("%d records skipped (on_error='skip'): %s%s", len(stats.skipped), shown,
                           ", ..." if len(stats.skipped) > 3 else "")

    def _count_lengths(self, recs: list[Record], stats: RunStats) -> None:
        """Count the records far outside the model's trained length (see :attr:`trained_length_bp`)."""
        if self.trained_length_bp is None or not recs:
            return
        lengths = np.array([len(r) for r in recs])
        low, high = self.trained_length_bp
        stats.too_short += int((lengths < low * TRAINED_LENGTH_FACTOR[0]).sum())
        stats.too_long += int((lengths > high * TRAINED_LENGTH_FACTOR[1]).sum())
        shortest = int(lengths.min())
        stats.shortest = shortest if stats.shortest is None else min(stats.shortest, shortest)
        stats.longest = max(stats.longest, int(lengths.max()))

    def _warn_lengths(self, stats: RunStats) -> None:
        """One warning per run, counted, for the records far outside the model's trained length."""
        if self.trained_length_bp is None or not (stats.too_short or stats.too_long):
            return
        low, high = self.trained_length_bp
        trained = f"{low:,} bp" if low == high else f"{low:,}-{high:,} bp"
        parts = []
        if stats.too_short:
            parts.append(f"{stats.too_short:,} of {stats.records:,} records are much shorter than the {trained} this "
                         f"model was trained on (under {low * TRAINED_LENGTH_FACTOR[0]:,g} bp; shortest "
                         f"{stats.shortest:,} bp)")
        if stats.too_long:
            parts.append(f"{stats.too_long:,} of {stats.records:,} records are much longer than the {trained} this "
                         f"model was trained on (over {high * TRAINED_LENGTH_FACTOR[1]:,g} bp; longest "
                         f"{stats.longest:,} bp)")
        logger.warning("%s: its outputs there are extrapolations, however confident they look", "; ".join(parts))

    def _with_reverse(self, rec: Record, windows: list[Encoding]) -> _StrandWindows:
        """``windows`` with, in ``.reverse``, each window's reverse complement: the window's bases
        ``rec.seq[start:end]`` reverse-complemented and tokenized alone (its spans are on that reversed string)."""
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

    def _forward_both_strands(
        self, flat: list[Encoding], wins: list[list[Encoding]], kind: str, stats: RunStats,
        after_batch: Callable[[np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Outputs of every window ``(n_windows, dim)``: the mean of the window's and its reverse complement's
        (``wins`` are :class:`_StrandWindows`); ``after_batch`` hears of a window once both strands are done."""
        n = len(flat)
        reverse = [r for ws in wins for r in ws.reverse]
        strands_done = np.zeros(n, dtype=np.int64)

        def both_done(batch_index: np.ndarray) -> None:
            window = batch_index % n
            np.add.at(strands_done, window, 1)  # a batch may hold both strands of a window
            window = np.unique(window)
            ready = window[strands_done[window] == 2]  # each strand runs once: these became ready now
            if after_batch is not None and len(ready):
                after_batch(ready)

        values = self._forward_all(flat + reverse, kind, stats, both_done)
        return ((values[:n].astype(np.float64) + values[n:]) / 2).astype(np.float32)

    def _forward_all(
        self, encodings: list[Encoding], kind: str, stats: RunStats,
        after_batch: Callable[[np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Outputs of every window, ``(n_windows, dim)`` float32, in the order given (``after_batch`` is called
        with each batch's indices once it is done)."""
        lengths = np.array([len(e) for e in encodings])
        group = None
        if self._block_size:
            # block-sparse BigBird: a batch holds one block layout, so padding never changes an input's attention
            # pattern; inputs short enough for full attention share one group
            sparse = lengths > bigbird_full_attention_limit(self.model.config)
            group = np.where(sparse, -(-lengths // self._block_size), 0)
        out: np.ndarray | None = None
        pad_id = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
        for batch_index in plan_batches(lengths, self.max_batch_tokens, group):
            batch = pad_batch([encodings[i] for i in batch_index], pad_id)
            longest = batch["input_ids"].shape[1]
            with torch.inference_mode(), attention_type_for(self.model, longest) as attention:
                with no_bigbird_attention_map(self.model):
                    values = self._forward(batch, kind)
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
        assert out is not None
        return out

    def _forward(self, batch: dict[str, torch.Tensor], kind: str) -> np.ndarray:
        device = self.device
        ids = batch["input_ids"].to(device, non_blocking=True)
        attention_mask = batch["attention_mask"].to(device, non_blocking=True)
        if kind == "predict":
            output = self.model(input_ids=ids, attention_mask=attention_mask)
            logits = (output.logits if hasattr(output, "logits") else output.prediction_logits).float()
            if self.head == "classification":
                values = logits.softmax(-1)
            elif self.head == "multilabel":
                values = logits.sigmoid()
            elif self.head == "regression":
                values = logits
            else:
                content = batch["content_mask"].to(device)
                if self.head == "causal_lm":  # token t is predicted from the tokens before it
                    logits, ids, content = logits[:, :-1], ids[:, 1:], content[:, 1:]
                log_prob = logits.gather(-1, ids[..., None])[..., 0] - logits.logsumexp(-1)
                values = ((log_prob * content).sum(1) / content.sum(1).clamp(min=1))[:, None]
            return values.cpu().numpy()
        hidden = self.model.base_model(input_ids=ids, attention_mask=attention_mask).last_hidden_state.float()
        if kind == "embed_cls":
            return hidden[:, 0].cpu().numpy()
        content = batch["content_mask"].to(device)[..., None]
        return ((hidden * content).sum(1) / content.sum(1).clamp(min=1)).cpu().numpy()

    def _frame(
        self, records: list[Record], windows: list[list[Encoding]], values: np.ndarray, per_window: bool
    ) -> pd.DataFrame:
        counts = np.array([len(w) for w in windows])
        if per_window:
            flat = [w for ws in windows for w in ws]
            frame = pd.DataFrame(values, columns=self.output_columns)
            frame.insert(0, "end", [w.end for w in flat])
            frame.insert(0, "start", [w.start for w in flat])
            frame.insert(0, "window", [w.window for w in flat])
            frame.insert(0, "n_windows", np.repeat(counts, counts))
            frame.insert(0, "length", np.repeat([len(r) for r in records], counts))
            frame.insert(0, "id", np.repeat([r.id for r in records], counts))
            return frame
        frame = pd.DataFrame(_per_record(values, windows).astype(np.float32), columns=self.output_columns)
        frame.insert(0, "n_windows", counts)
        frame.insert(0, "length", [len(r) for r in records])
        frame.insert(0, "id", [r.id for r in records])
        return frame


def single_record(source: Record | tuple[str, str] | str | Path) -> Record:
    """Exactly one record from a Record, an (id, sequence) pair, a DNA string or a one-record FASTA file."""
    items = [source] if isinstance(source, (Record, tuple)) else source
    records = list(itertools.islice(iter_records(items), 2))
    if len(records) != 1:
        raise DnallmError(
            "attention maps are drawn for one record at a time; pick one, e.g. "
            "next(r for r in dnallm.read_fasta(path) if r.id == 'ID') (CLI: --id ID)"
        )
    return records[0]


def _pick_window(
    rec: Record, windows: list[Encoding], window: int | None, region: tuple[int, int] | None, tokenizer: Any,
    overlap: int | None,
) -> Encoding:
    if window is not None:
        if not 0 <= window < len(windows):
            raise DnallmError(f"record '{rec.id}' has {len(windows)} windows (0 to {len(windows) - 1}), not {window}")
        return windows[window]
    if region is None:
        return windows[0]
    lo, hi = region
    if not 0 <= lo < hi <= len(rec):
        raise DnallmError(f"region {lo}-{hi} is outside record '{rec.id}' (0-{len(rec)} bp)")
    if len(windows) == 1:
        return windows[0]
    centred = tokenizer.window_at(rec, lo, hi, overlap=overlap)  # a window centred on the region
    for regular in windows:  # named by its number when it is one of the record's windows
        if (regular.start, regular.end) == (centred.start, centred.end):
            return regular
    return replace(centred, window=-1)


def _per_record(values: np.ndarray, windows: list[list[Encoding]]) -> np.ndarray:
    """The aggregation rule: a record's output is the mean of its windows' outputs (float64)."""
    counts = np.array([len(w) for w in windows])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.add.reduceat(values.astype(np.float64), starts, axis=0) / counts[:, None]


def _embed_kind(pooling: str, inference: DNAInference) -> str:
    if pooling == "mean":
        return "embed_mean"
    if pooling == "cls":
        if not len(inference.tokenizer.prefix_ids):
            raise DnallmError(f"{inference.name} adds no leading special token; use pooling='mean'")
        return "embed_cls"
    raise DnallmError(f"unknown pooling {pooling!r}; use 'mean' or 'cls'")


class _StrandWindows(list):
    """A record's windows (forward strand) with their reverse complements in :attr:`reverse`, in the same order."""

    reverse: list[Encoding]


def _check_overlap(overlap: int | None, width: int | None) -> None:
    """Refuse a window overlap the model's windows cannot have (``width``: sequence tokens per window)."""
    if overlap is None:
        return
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)):
        raise DnallmError(f"window_overlap must be a whole number of tokens, not {overlap!r}")
    if width is not None and not 0 <= overlap < width:
        raise DnallmError(
            f"window_overlap={overlap}: consecutive windows can share 0 to {width - 1} tokens (this model's windows "
            f"hold {width} sequence tokens); the default is a tenth of a window ({width // 10})"
        )
    if overlap < 0:
        raise DnallmError(f"window_overlap={overlap}: an overlap is 0 or more tokens")


def _trained_length(config: Any, name: str) -> tuple[int, int] | None:
    """``(shortest, longest)`` bp of the training sequences, from config.json's ``dnallm_trained_length_bp``."""
    value = getattr(config, "dnallm_trained_length_bp", None)
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple)) or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value) or value[0] > value[1]
    ):
        raise DnallmError(
            f"{name}: config.json's dnallm_trained_length_bp must be [shortest, longest] in bp (two positive whole "
            f"numbers, shortest first), not {value!r}; fix or remove it"
        )
    return int(value[0]), int(value[1])
