"""DNAInference: a thin facade that loads a model once and gives one result per record, in input order.

A long record's windows all run; its output combines theirs by its head's rule (:mod:`dnallm.heads`).
:mod:`dnallm.modeling` loads, :mod:`dnallm.runner` batches and runs, :mod:`dnallm.heads` post-processes,
:mod:`dnallm.attention_capture` draws attention; this class only chooses among them.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dnallm import attribution, heads
from dnallm.attention import AttentionMap
from dnallm.io.fasta import Record, SequenceInput, SkipCallback, iter_records
from dnallm.io.options import InputOptions
from dnallm.modeling import load_model
from dnallm.registry import DEFAULT_MODEL
from dnallm.results import embeddings, empty_frame, frame
from dnallm.runner import Runner, check_batch_tokens

RecordLike = Record | tuple[str, str] | str


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
        head: what the model computes (see :mod:`dnallm.heads`): decides the columns of :meth:`predict`.
        output_columns: those columns.
        last_run: :class:`RunStats` of the last call.
        trained_length_bp: ``(shortest, longest)`` bp the model was trained on, from config.json's
            ``"dnallm_trained_length_bp": [min, max]`` (the demo model has it), else None. Records under half the
            shortest or over twice the longest are counted in one warning per run: outputs there extrapolate.
    """

    def __init__(self, model: str | Path | None = None, *, device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "auto", attn_implementation: str = "auto",
                 max_batch_tokens: int | None = None, trust_remote_code: bool = False, revision: str | None = None,
                 tokenizer_family: str | None = None, k: int | None = None, max_tokens: int | None = None,
                 window_overlap: int | None = None, allow_pickle: bool = False):
        model = DEFAULT_MODEL if model is None else model
        self.name = str(model)
        check_batch_tokens(max_batch_tokens)  # before a model loads
        self._loaded = load_model(model, device=device, dtype=dtype, attn_implementation=attn_implementation,
                                  trust_remote_code=trust_remote_code, revision=revision, allow_pickle=allow_pickle,
                                  tokenizer_family=tokenizer_family, k=k, max_tokens=max_tokens,
                                  window_overlap=window_overlap)
        self.runner = Runner(self._loaded, max_batch_tokens, window_overlap, self._loaded.trained_length_bp)
        self.output_columns = heads.HEADS[self.head].columns(self.model.config)

    model = property(lambda self: self._loaded.model, doc="The transformers model, in eval mode.")
    tokenizer = property(lambda self: self._loaded.tokenizer, doc="The :class:`dnallm.DNATokenizer` of the model.")
    head = property(lambda self: self._loaded.head, doc="What the model computes (a :data:`dnallm.heads.HEADS` name).")
    device = property(lambda self: self._loaded.device)
    dtype = property(lambda self: self._loaded.dtype)
    attn_implementation = property(lambda self: self._loaded.attn_implementation,
                                   doc="The attention backend chosen at load: flash_attention_2, sdpa or eager.")
    trained_length_bp = property(lambda self: self._loaded.trained_length_bp)
    last_run = property(lambda self: self.runner.last_run, doc="The :class:`RunStats` of the last call.")
    window_overlap = property(lambda self: self.runner.window_overlap)
    max_batch_tokens = property(lambda self: self.runner.max_batch_tokens,
                                lambda self, value: setattr(self.runner, "max_batch_tokens", value))
    chunk_batches = property(lambda self: self.runner.chunk_batches,
                             lambda self, value: setattr(self.runner, "chunk_batches", value),
                             doc="Records are planned into batches this many batches' worth of tokens at a time.")

    def describe(self) -> str:
        """What runs, in one line: ``(model class, head: outputs) on device, dtype, attention, tokens per window``."""
        outputs = f": {', '.join(self.output_columns)}" if self.output_columns else ""
        return (f"({type(self.model).__name__}, {self.head}{outputs}) on {self.device}, "
                f"{str(self.dtype).removeprefix('torch.')}, attention {self.attn_implementation}, "
                f"{self.tokenizer.family} tokens, {self.tokenizer.max_tokens} per window")

    def __repr__(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        return (f"DNAInference({self.name!r}, head={self.head!r}, device={str(self.device)!r}, dtype={dtype!r}, "
                f"attn={self.attn_implementation!r}, tokenizer={self.tokenizer!r})")

    def result_columns(self, kind: str = "predict", per_window: bool = False) -> list[str]:
        """The columns of ``predict`` (``kind="predict"``) or ``iter_embed`` (``"embed"``) results, known before
        any record runs: ``id``, ``length``, ``n_windows`` (then ``window``, ``start``, ``end`` per window), then
        :attr:`output_columns` or ``dim_0`` ... ``dim_{hidden_size-1}``."""
        base = ["id", "length", "n_windows"] + (["window", "start", "end"] if per_window else [])
        if kind == "embed":
            return base + heads.HEADS["embed_mean"].columns(self.model.config)
        return base + self.output_columns

    def predict(self, source: SequenceInput, *, per_window: bool = False, progress: bool = False, iupac: str = "n",
                uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
                both_strands: bool = False) -> pd.DataFrame:
        """One row per record, in input order.

        Args:
            source: a FASTA path, a sequence string, a list, a dict or an iterable of records
                (see :func:`dnallm.iter_records`).
            per_window: one row per window instead, with ``window``, ``start`` and ``end`` (bp on the record).
            progress: show a progress bar with records/s on stderr.
            iupac, uracil: the alphabet policy (see :mod:`dnallm.io.fasta`).
            on_error: ``"fail"`` (default) raises at the first bad record; ``"skip"`` leaves bad records out (a
                character outside the policy, no sequence, a repeated id, too short for one token) and goes on.
                The skipped records are in ``last_run.skipped`` and passed to ``on_skip`` (on the calling thread,
                before the results of the records after them).
            both_strands: each window's output is the mean of its own and its reverse complement's outputs (see
                :mod:`dnallm.runner`); coordinates stay on the forward strand.

        Returns:
            DataFrame with ``id``, ``length`` (bp), ``n_windows``, then :attr:`output_columns` (float32, the
            model's precision; a record's windows are combined in float64).
        """
        frames = list(self.iter_predict(source, per_window=per_window, progress=progress, iupac=iupac, uracil=uracil,
                                        on_error=on_error, on_skip=on_skip, both_strands=both_strands))
        if not frames:
            return empty_frame(self.result_columns("predict", per_window=per_window), self.output_columns)
        return pd.concat(frames, ignore_index=True)

    def iter_predict(self, source: SequenceInput, *, per_window: bool = False, progress: bool = False,
                     iupac: str = "n", uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
                     exclude_ids: Container[str] = (), both_strands: bool = False) -> Iterator[pd.DataFrame]:
        """Like :meth:`predict`, streamed: DataFrames of consecutive records, in input order, as they are done.

        ``exclude_ids``: records with these ids are read and checked but not run and not returned (how
        ``dnallm predict --resume`` continues a run).
        """
        yield from self._predict_frames(source, InputOptions(iupac, uracil, on_error, on_skip), per_window=per_window,
                                        exclude_ids=exclude_ids, both_strands=both_strands, progress=progress)

    def _predict_frames(self, source: Any, options: InputOptions, *, per_window: bool = False,
                        exclude_ids: Container[str] = (), both_strands: bool = False, progress: bool = False,
                        checked: bool = False) -> Iterator[pd.DataFrame]:
        """The body of :meth:`iter_predict` (``checked``: see :meth:`dnallm.runner.Runner.run`; how a Ray worker
        runs a block of records the driver has read and checked)."""
        head = heads.prediction_head(self.head, self.name)
        for chunk in self.runner.run(source, head, options, exclude_ids=exclude_ids, both_strands=both_strands,
                                     progress=progress, checked=checked):
            yield frame(chunk, self.output_columns, chunk.values if per_window else chunk.per_record(head),
                         per_window)

    def embed(self, source: SequenceInput, *, pooling: str = "mean", progress: bool = False, iupac: str = "n",
              uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
              both_strands: bool = False) -> tuple[list[str], np.ndarray]:
        """Per-record embeddings from the last hidden layer.

        Args:
            pooling: one of :data:`dnallm.heads.POOLINGS`: ``"mean"`` over the record's sequence tokens (special
                tokens and padding excluded), ``"cls"``: the first special token's vector (for models that add
                one), ``"max"``: the element-wise maximum over the sequence tokens.
            on_error, on_skip, both_strands: as in :meth:`predict`.

        Returns:
            ids in input order, and a float32 array ``(n_records, hidden_size)``. Long records combine their
            windows' embeddings (the mean; the maximum for ``"max"``).
        """
        return embeddings(self.iter_embed(source, pooling=pooling, progress=progress, iupac=iupac, uracil=uracil,
                                          on_error=on_error, on_skip=on_skip, both_strands=both_strands),
                          self.model.config.hidden_size)

    def iter_embed(self, source: SequenceInput, *, pooling: str = "mean", progress: bool = False, iupac: str = "n",
                   uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
                   exclude_ids: Container[str] = (), both_strands: bool = False) -> Iterator[pd.DataFrame]:
        """Embeddings streamed as DataFrames: ``id``, ``length``, ``n_windows``, ``dim_0`` ... ``dim_{h-1}``."""
        yield from self._embed_frames(source, InputOptions(iupac, uracil, on_error, on_skip), pooling=pooling,
                                      exclude_ids=exclude_ids, both_strands=both_strands, progress=progress)

    def _embed_frames(self, source: Any, options: InputOptions, *, pooling: str = "mean",
                      exclude_ids: Container[str] = (), both_strands: bool = False, progress: bool = False,
                      checked: bool = False) -> Iterator[pd.DataFrame]:
        """The body of :meth:`iter_embed` (``checked`` as in :meth:`_predict_frames`)."""
        head = heads.pooling_head(pooling, bool(len(self.tokenizer.prefix_ids)), self.name)
        columns = self.result_columns("embed")[3:]
        for chunk in self.runner.run(source, head, options, exclude_ids=exclude_ids, both_strands=both_strands,
                                     progress=progress, checked=checked):
            yield frame(chunk, columns, chunk.per_record(head), per_window=False)

    # -- attention ----------------------------------------------------------------------------------------------

    def attentions(self, record: RecordLike, layers: int | Sequence[int] | str = -1,
                   heads: int | Sequence[int] | str = "all", *, window: int | None = None,
                   region: tuple[int, int] | None = None, query: str = "auto", max_bins: int = 1024) -> AttentionMap:
        """Attention of the chosen layers over one record (one window of a longer one), an :class:`AttentionMap`:
        one forward pass with eager attention for this call only, keeping the asked layers' weights alone.

        Args:
            record: a :class:`Record`, an ``(id, sequence)`` pair, a DNA string, or a FASTA file of one record.
            layers: a layer number (negative from the end), a list of them, or ``"all"``.
            heads: ``"all"``, a head number, a list of them, or ``"mean"`` (keep only the mean over heads).
            window: which window of a long record, 0-based (default the first, or one centred on ``region``).
            region: ``(start, end)`` in record bp that the window must contain.
            query: the per-bp track's query: ``"cls"``, ``"mean"`` or ``"auto"`` (cls if there is a leading special).
            max_bins: the bp x bp matrix is binned to at most this many bins per axis.
        """
        from dnallm import attention_capture as capture

        rec = capture.single_record(record)
        enc = capture.pick_window(self.runner, rec, window, region)
        return capture.attention_map(self.runner, rec, enc, layers, heads, query, max_bins)

    def attention_track(self, record: RecordLike, layer: int = -1, head: int | Sequence[int] | str = "mean",
                        query: str = "auto") -> np.ndarray:
        """Per-bp attention received over a whole record, ``(length,)``: each window's track, averaged where
        windows overlap (see :mod:`dnallm.attention` for the projection and the query)."""
        from dnallm import attention_capture as capture

        return capture.attention_track(self.runner, capture.single_record(record), layer, head, query)

    def attribute(self, source: SequenceInput, *, method: str = "ism", target: str | None = None, layer: int | str = -1,
                  progress: bool = False, iupac: str = "n", uracil: str = "t", on_error: str = "fail",
                  on_skip: SkipCallback | None = None) -> attribution.Attribution:
        """Per-bp attribution scores of every record: see :func:`dnallm.attribution.attribute` (methods, targets)."""
        return attribution.attribute(self.runner, self._loaded, source, method, target, InputOptions(
            iupac, uracil, on_error, on_skip), progress, layer, model_name=self.name)

    def score_variants(self, vcf: str | Path, genome: str | Path, **options: Any) -> pd.DataFrame:
        """Variant effects: one row per (site, ALT) of ``vcf`` on the reference ``genome`` (FASTA, plain or bgzip),
        ``chrom pos id ref alt window_start window_end`` then the scores: see :mod:`dnallm.variants` (windows,
        scores, what is not scored). ``options``: those of :meth:`iter_score_variants`."""
        return pd.concat(list(self.iter_score_variants(vcf, genome, **options)), ignore_index=True)

    def iter_score_variants(self, vcf: str | Path, genome: str | Path, *, window: int | None = None,
                            target: str | None = None, both_strands: bool = False, max_n: float = 0.1,
                            chrom_alias: Any = None, on_error: str = "skip", on_skip: SkipCallback | None = None,
                            progress: bool = False, with_keys: bool = False) -> Iterator[Any]:
        """:meth:`score_variants` streamed, DataFrames in VCF order. ``window``: bp (default the model's input
        length); ``target``: the label of ``log_odds_ratio_*`` (default the last); ``max_n``: the largest share
        of N in a window; ``chrom_alias``: ``"chr"`` (add or remove the prefix), a dict or a two-column TSV;
        ``on_error``: ``"skip"`` (list the variants not scored in ``last_run.skipped`` and ``on_skip``) or
        ``"raise"``; ``with_keys``: ``(frame, keys)`` pairs, ``keys`` the (VCF record, ALT) index of each row."""
        from dnallm.variants import iter_scores

        yield from iter_scores(self.runner, self._loaded, vcf, genome, window=window, target=target,
                               both_strands=both_strands, max_n=max_n, chrom_alias=chrom_alias, on_error=on_error,
                               on_skip=on_skip, progress=progress, model_name=self.name, with_keys=with_keys)

    def scan(self, genome: str | Path, **options: Any) -> pd.DataFrame:
        """The model's output on tiles of ``genome`` (``window=W``, ``step=S``) or on the intervals of a BED
        (``regions=``): one row per tile or interval, ``chrom start end`` (``name strand`` for regions) in genome
        coordinates, then :attr:`output_columns`. See :mod:`dnallm.scan` (tiling, N, what is not scored) and
        :meth:`iter_scan` for the options; :func:`dnallm.scan.write_tracks` writes rows as bigWig or bedGraph."""
        from dnallm.scan import empty_scan

        frames = list(self.iter_scan(genome, **options))
        if not frames:
            return empty_scan(self.output_columns, options.get("regions") is not None)
        return pd.concat(frames, ignore_index=True)

    def iter_scan(self, genome: str | Path, *, window: int | None = None, step: int | None = None,
                  regions: str | Path | None = None, chroms: Sequence[str] | str | None = None,
                  both_strands: bool = False, max_n: float = 0.5, chrom_alias: Any = None, on_error: str = "skip",
                  on_skip: SkipCallback | None = None, progress: bool = False,
                  by_name: bool = False) -> Iterator[pd.DataFrame]:
        """:meth:`scan` streamed, DataFrames in genome (or BED) order (``by_name``: contigs tiled in name order,
        the order of tracks). ``window``/``step``: tiles in bp (step
        default the window); ``regions``: a BED file instead; ``chroms``: the contigs to tile (default all);
        ``max_n``: the largest share of N still scored; ``chrom_alias``: ``"chr"``, a dict or a TSV (BED names
        to genome names); ``on_error``: ``"skip"`` (what cannot be scored goes to ``last_run.skipped`` and
        ``on_skip``) or ``"raise"``."""
        from dnallm.scan import iter_scan

        yield from iter_scan(self.runner, self._loaded, genome, window=window, step=step, regions=regions,
                             chroms=chroms, both_strands=both_strands, max_n=max_n, chrom_alias=chrom_alias,
                             on_error=on_error, on_skip=on_skip, progress=progress, model_name=self.name,
                             by_name=by_name)

    def find_motifs(self, positives: SequenceInput, background: SequenceInput, *, scores: str = "auto",
                    layer: int | str = "all", head: int | Sequence[int] | str = "mean", query: str = "auto",
                    target: str | None = None, progress: bool = False, **settings: Any):
        """Motifs of ``positives`` against ``background`` from this model's per-bp ``scores`` (attention: k-mer
        enrichment; ism, integrated_gradients, gradient_x_input: TF-MoDISco), matched to JASPAR with Tomtom: see
        :func:`dnallm.motif_search.find_motifs`. ``settings``: :class:`dnallm.motifs.MotifSettings` fields and
        ``database``. Returns a :class:`dnallm.motifs.MotifResult`."""
        from dnallm.motif_search import find_motifs

        return find_motifs(self.runner, self._loaded, list(iter_records(positives)), list(iter_records(background)),
                           scores=scores, layer=layer, head=head, query=query, target=target, progress=progress,
                           model_name=self.name, **settings)

    def plot_attentions(self, record: RecordLike, layer: int = -1, head: int | Sequence[int] | str = "mean", *,
                        region: tuple[int, int] | None = None, window: int | None = None, track: bool = True,
                        max_bins: int = 512, **kwargs: Any):
        """A heatmap of one layer's attention over base-pair positions; see :func:`dnallm.plotting.plot_attention`.

        ``head``: ``"mean"`` (all heads averaged), a head number, or a list of heads (one panel each). ``region``
        zooms into record bp ``(start, end)``; long windows are binned to ``max_bins``. Returns a matplotlib
        Figure (save it with ``fig.savefig("attention.png")``, ``.pdf`` or ``.svg``).
        """
        from dnallm.plotting import plot_attention

        heads_kept = "mean" if isinstance(head, str) else head
        amap = self.attentions(record, layers=layer, heads=heads_kept, window=window, region=region,
                               max_bins=max_bins)
        return plot_attention(amap, head=head, region=region, track=track, max_bins=max_bins, **kwargs)
