"""The Ray engine (``--engine ray``, :class:`RayInference`): the same commands on a pool of Ray actors, one model
copy per actor, on a laptop or a cluster.

The driver (this process) reads the input and cuts it into blocks: records of a FASTA (read and checked here,
under the input policy, exactly as the local engine reads them), tiles or BED intervals of a genome (cut here
from the genome), VCF records (read here). Blocks are streamed: at most ``2 x workers + 1`` are in flight or
waiting to be written, so the driver's memory does not grow with the input. Each actor loads
:class:`dnallm.DNAInference` once, with the run's options, and runs each block it is given through the same
runner as the local engine (the same code from the block's records on). The driver hands the results on in
input order, and with them, in order, what was not scored (``on_skip``, the skipped list): the output equals the
local run's, row for row; values agree to float32 rounding (a block is batched on its own, so the same bases may
sit in batches of other lengths).

A worker that dies (its process killed, its node lost) is restarted by Ray, which runs its block again
(``max_restarts``, ``max_task_retries``): each block's result is taken once, so no block is lost or written
twice. Variant scoring opens the genome in each worker: the genome's path (like a local model's) must be
readable on every node (a shared file system).

Connecting: ``address`` (CLI ``--ray-address``) or ``RAY_ADDRESS`` names a running cluster (``ray start --head``
on one node, ``ray start --address HEAD:6379`` on the others); without either, Ray starts in this process. See
docs/scale-out.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnallm.errors import DnallmError, OptionError
from dnallm.io.options import InputOptions, Skipped, SkipCallback
from dnallm.runner import RunStats

logger = logging.getLogger(__name__)

#: a block holds at most this many records (tiles, intervals) ...
BLOCK_RECORDS = 2048
#: ... and at most about this many bases
BLOCK_BP = 262_144
#: VCF records per block
BLOCK_SITES = 512
#: Ray restarts a dead worker, and runs its block again, this many times
RETRIES = 3
#: the RunStats counters a worker sends back with each block
_COUNTERS = ("records", "windows", "batches", "tokens", "padded_tokens", "skipped_inputs", "too_short", "too_long")


def _ray():
    try:
        import ray
    except ImportError:
        raise DnallmError("--engine ray needs Ray: pip install 'dnallm[ray]'") from None
    return ray


def engine_options(args: Any) -> dict[str, Any]:
    """The :class:`RayInference` keywords of a command's parsed arguments."""
    blocks = {} if args.block_records is None else dict(block_records=args.block_records,
                                                          block_sites=args.block_records)
    return dict(address=args.ray_address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                gpus_per_worker=args.gpus_per_worker, **blocks)


# -- blocks -----------------------------------------------------------------------------------------------------


@dataclass
class Block:
    """Consecutive inputs for one worker: records (or tiles, intervals, VCF records) and, in their place among
    them, :class:`Skipped` entries for inputs left out in the driver; ``excluded``: records of a resumed run
    passed over before these; ``inputs``: what the progress bar counts for this block."""

    items: list = field(default_factory=list)
    excluded: int = 0
    inputs: int = 0


def record_blocks(records: Iterable[Any], pending: list[Skipped], exclude_ids: Container[str] = (),
                  block_records: int = BLOCK_RECORDS, block_bp: int = BLOCK_BP) -> Iterator[Block]:
    """Blocks of records (``pending``: where the reader of ``records`` puts the records it skips, handed on
    in their place)."""
    block, bp = Block(), 0

    def left_out(items: list[Skipped]) -> None:
        block.items.extend(items)
        block.inputs += sum(item.count for item in items)
        items.clear()

    for rec in records:
        left_out(pending)
        if isinstance(rec, Skipped):
            left_out([rec])
            continue
        block.inputs += 1
        if exclude_ids and rec.id in exclude_ids:
            block.excluded += 1
            continue
        block.items.append(rec)
        bp += len(rec.seq)
        if len(block.items) >= block_records or bp >= block_bp:
            yield block
            block, bp = Block(), 0
    left_out(pending)
    if block.items or block.excluded:
        yield block


def site_blocks(reader: Iterable[Any], block_sites: int = BLOCK_SITES) -> Iterator[Block]:
    """Blocks of VCF records (:class:`dnallm.io.variants.Site` and ``BadLine``)."""
    block = Block()
    for item in reader:
        block.items.append(item)
        if len(block.items) >= block_sites:
            yield block
            block = Block()
    if block.items:
        yield block


# -- the worker -------------------------------------------------------------------------------------------------


class Worker:
    """One model copy in a Ray actor: loads :class:`dnallm.DNAInference` once and runs the blocks it is given.
    A load that fails is kept and raised by :meth:`info`, so the driver reports it as the local engine does."""

    def __init__(self, model: str, options: dict[str, Any], threads: int):
        import torch

        from dnallm.inference import DNAInference

        logging.getLogger("dnallm").setLevel(logging.ERROR)  # the driver warns once per run, not per block
        torch.set_num_threads(max(1, threads))
        self.error: BaseException | None = None
        self.genomes: dict[tuple, Any] = {}
        try:
            self.inf = DNAInference(model, **options)
        except Exception as exc:  # noqa: BLE001 - handed to the driver by info()
            self.inf, self.error = None, exc

    def info(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        inf = self.inf
        return dict(describe=inf.describe(), output_columns=inf.output_columns, head=inf.head,
                    predict_columns=inf.result_columns("predict"), window_columns=inf.result_columns(
                        "predict", per_window=True), embed_columns=inf.result_columns("embed"),
                    hidden_size=inf.model.config.hidden_size, trained_length_bp=inf.trained_length_bp,
                    device=str(inf.device), pid=os.getpid())

    def pid(self) -> int:
        return os.getpid()

    def check_window(self, window: int) -> None:
        from dnallm.scan import check_window_length

        check_window_length(self.inf.tokenizer, window)

    def run(self, kind: str, index: int, block: Block, settings: dict[str, Any]) -> tuple[int, list, dict]:
        """Block ``index`` through the runner: ``(index, events, stats)``, ``events`` in order: ``("skip",
        Skipped)`` and ``("rows", frame)`` (variants with keys: ``("rows", (frame, keys))``)."""
        events: list = []

        def skip(item: Skipped) -> None:
            events.append(("skip", item))

        inf = self.inf
        if kind in ("predict", "embed"):
            options = InputOptions(on_error=settings["on_error"], on_skip=skip)
            frames = (inf._predict_frames if kind == "predict" else inf._embed_frames)(
                block.items, options, checked=True, **settings["keywords"])
        elif kind == "scan":
            from dnallm.scan import score_pieces

            frames = score_pieces(inf.runner, inf._loaded, block.items, on_skip=skip, model_name=inf.name,
                                  **settings)
        else:
            from dnallm.io.genome import Genome
            from dnallm.io.variants import SiteBlock

            key = (settings["genome"], repr(settings["chrom_alias"]))
            if key not in self.genomes:
                self.genomes[key] = Genome(settings["genome"], settings["chrom_alias"])
            keywords = {k: v for k, v in settings.items() if k not in ("genome", "vcf")}
            frames = inf.iter_score_variants(SiteBlock(settings["vcf"], block.items), self.genomes[key],
                                             on_skip=skip, **keywords)
        for rows in frames:
            events.append(("rows", rows))
        run = inf.last_run
        stats = {name: getattr(run, name) for name in _COUNTERS}
        stats.update(attention_types=dict(run.attention_types), shortest=run.shortest, longest=run.longest)
        return index, events, stats


# -- the driver -------------------------------------------------------------------------------------------------


class RayInference:
    """:class:`dnallm.DNAInference`'s streaming methods on a pool of Ray actors (see the module docstring).

    Args:
        model: as for :class:`dnallm.DNAInference` (a local directory is passed to the workers as an absolute
            path: it must be readable on every node).
        workers: model copies (Ray actors). Default: one per GPU of the cluster when it has GPUs (and
            ``device`` is not ``"cpu"``), else the cluster's CPUs divided by ``cpus_per_worker``.
        cpus_per_worker: CPUs each actor reserves and torch threads it runs (default 1 with GPUs, else 4, or
            all the cluster's CPUs when it has fewer).
        gpus_per_worker: GPUs each actor reserves (default 1 on a cluster with GPUs, else 0; a fraction shares
            a GPU between actors).
        address: a running Ray cluster (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``); default
            ``RAY_ADDRESS``, else Ray starts in this process (with ``num_cpus``, default all of this machine's).
        block_records, block_bp, block_sites: the size of a block (records and bases; VCF records).
        **options: :class:`dnallm.DNAInference`'s (``device``, ``dtype``, ``attn_implementation``,
            ``max_batch_tokens``, ``trust_remote_code``, ...), used by every worker.
    """

    def __init__(self, model: str | Path | None = None, *, workers: int | None = None,
                 cpus_per_worker: float | None = None, gpus_per_worker: float | None = None,
                 address: str | None = None, num_cpus: int | None = None, block_records: int = BLOCK_RECORDS,
                 block_bp: int = BLOCK_BP, block_sites: int = BLOCK_SITES, **options: Any):
        from dnallm.registry import DEFAULT_MODEL
        from dnallm.runner import check_batch_tokens

        ray = _ray()
        check_batch_tokens(options.get("max_batch_tokens"))
        for name, value, least in (("workers", workers, 1), ("cpus-per-worker", cpus_per_worker, 0),
                                   ("gpus-per-worker", gpus_per_worker, 0), ("block-records", block_records, 1),
                                   ("block-records", block_sites, 1), ("block-bp", block_bp, 1)):
            if value is not None and value < least:
                raise OptionError(f"--{name} must be {least} or more, not {value:g}")
        model = DEFAULT_MODEL if model is None else model
        self.name = str(model)
        if os.path.exists(str(model)):
            model = os.path.abspath(model)
        self.block_records, self.block_bp, self.block_sites = block_records, block_bp, block_sites
        address = address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
                else:
                    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR,
                             log_to_driver=False)
            except ConnectionError as exc:
                raise DnallmError(f"cannot connect to the Ray cluster at {address}: {exc} (start one with "
                                  "`ray start --head`, or leave out --ray-address and RAY_ADDRESS to run Ray in "
                                  "this process; a cluster started by `ray start` may use token authentication: "
                                  "then set RAY_AUTH_MODE=token, with its token in ~/.ray/auth_token or "
                                  "RAY_AUTH_TOKEN_PATH)") from None
        self.address = address
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
        if gpus_per_worker is None:
            gpus_per_worker = 1 if gpus >= 1 and str(options.get("device", "auto")) != "cpu" else 0
        if cpus_per_worker is None:
            cpus_per_worker = 1 if gpus_per_worker else min(4, cpus)
        if workers is None:
            workers = int(gpus // gpus_per_worker) if gpus_per_worker else int(cpus // max(cpus_per_worker, 1))
            workers = max(1, workers)
        need = [(what, n * workers, have) for what, n, have in (("CPU", cpus_per_worker, cpus),
                                                                ("GPU", gpus_per_worker, gpus)) if n * workers > have]
        if need:
            what, n, have = need[0]
            raise OptionError(f"{workers} workers need {n:g} {what}s; the Ray cluster has {have:g} (use fewer "
                              f"--workers or less --{what.lower()}s-per-worker)")
        if not gpus_per_worker and options.get("device", "auto") == "auto":
            options["device"] = "cpu"  # an actor without a GPU reserved must not take one
        self.workers, self.cpus_per_worker, self.gpus_per_worker = workers, cpus_per_worker, gpus_per_worker
        actor = ray.remote(Worker).options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
                                           max_restarts=RETRIES, max_task_retries=RETRIES)
        self._actors = [actor.remote(model, options, int(max(1, cpus_per_worker))) for _ in range(workers)]
        infos = _get([a.info.remote() for a in self._actors])
        self._info = infos[0]
        self.output_columns: list[str] = self._info["output_columns"]
        self.head: str = self._info["head"]
        self.trained_length_bp = self._info["trained_length_bp"]
        self.last_run = RunStats()

    def describe(self) -> str:
        """What runs, in one line (as :meth:`dnallm.DNAInference.describe`), and on how many Ray workers."""
        each = f"{self.cpus_per_worker:g} CPU" + (f", {self.gpus_per_worker:g} GPU" if self.gpus_per_worker else "")
        where = self.address or "started in this process"
        workers = f"{self.workers} Ray worker{'s' if self.workers != 1 else ''}"
        return f"{self._info['describe']}; {workers} ({each} each; Ray {where})"

    def result_columns(self, kind: str = "predict", per_window: bool = False) -> list[str]:
        """As :meth:`dnallm.DNAInference.result_columns`."""
        if kind == "embed":
            return list(self._info["embed_columns"])
        return list(self._info["window_columns" if per_window else "predict_columns"])

    def worker_pids(self) -> list[int]:
        """The process id of each worker (its actor), for monitoring."""
        return _get([a.pid.remote() for a in self._actors])

    def close(self) -> None:
        """Stop the workers (Ray itself stays up)."""
        ray = _ray()
        for a in self._actors:
            ray.kill(a)
        self._actors = []

    # -- the streaming methods ------------------------------------------------------------------------------------

    def iter_predict(self, source: Any, *, per_window: bool = False, progress: bool = False, iupac: str = "n",
                     uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
                     exclude_ids: Container[str] = (), both_strands: bool = False) -> Iterator[pd.DataFrame]:
        """As :meth:`dnallm.DNAInference.iter_predict`."""
        yield from self._records("predict", source, dict(per_window=per_window, both_strands=both_strands),
                                 InputOptions(iupac, uracil, on_error, on_skip), exclude_ids, progress)

    def iter_embed(self, source: Any, *, pooling: str = "mean", progress: bool = False, iupac: str = "n",
                   uracil: str = "t", on_error: str = "fail", on_skip: SkipCallback | None = None,
                   exclude_ids: Container[str] = (), both_strands: bool = False) -> Iterator[pd.DataFrame]:
        """As :meth:`dnallm.DNAInference.iter_embed`."""
        yield from self._records("embed", source, dict(pooling=pooling, both_strands=both_strands),
                                 InputOptions(iupac, uracil, on_error, on_skip), exclude_ids, progress)

    def predict(self, source: Any, **keywords: Any) -> pd.DataFrame:
        """As :meth:`dnallm.DNAInference.predict`."""
        from dnallm.results import empty_frame

        frames = list(self.iter_predict(source, **keywords))
        if not frames:
            return empty_frame(self.result_columns("predict", keywords.get("per_window", False)),
                               self.output_columns)
        return pd.concat(frames, ignore_index=True)

    def embed(self, source: Any, **keywords: Any) -> tuple[list[str], np.ndarray]:
        """As :meth:`dnallm.DNAInference.embed`."""
        from dnallm.results import embeddings

        return embeddings(self.iter_embed(source, **keywords), self._info["hidden_size"])

    def iter_scan(self, genome: Any, *, window: int | None = None, step: int | None = None,
                  regions: str | Path | None = None, chroms: Sequence[str] | str | None = None,
                  both_strands: bool = False, max_n: float = 0.5, chrom_alias: Any = None, on_error: str = "skip",
                  on_skip: SkipCallback | None = None, progress: bool = False,
                  by_name: bool = False) -> Iterator[pd.DataFrame]:
        """As :meth:`dnallm.DNAInference.iter_scan`: tiles or intervals cut here, scored by the workers."""
        from dnallm import heads
        from dnallm.io.genome import Genome
        from dnallm.scan import check_options, plan_scan

        check_options(window, step, regions, max_n, chroms, on_error)
        heads.prediction_head(self.head, self.name)
        if window is not None:
            _get(self._actors[0].check_window.remote(window))
        opened = not isinstance(genome, Genome)
        genome = Genome(genome, chrom_alias) if opened else genome
        try:
            pieces, total = plan_scan(genome, window=window, step=step, regions=regions, chroms=chroms,
                                      max_n=max_n, on_error=on_error, by_name=by_name)
            settings = dict(regions=regions is not None, on_error=on_error, both_strands=both_strands)
            blocks = record_blocks(pieces, [], block_records=self.block_records, block_bp=self.block_bp)
            unit = "regions" if regions is not None else "windows"
            yield from self._run("scan", blocks, settings, on_skip, progress, total, unit)
        finally:
            if opened:
                genome.close()

    def scan(self, genome: Any, **options: Any) -> pd.DataFrame:
        """As :meth:`dnallm.DNAInference.scan`."""
        from dnallm.scan import empty_scan

        frames = list(self.iter_scan(genome, **options))
        if not frames:
            return empty_scan(self.output_columns, options.get("regions") is not None)
        return pd.concat(frames, ignore_index=True)

    def iter_score_variants(self, vcf: str | Path, genome: str | Path, *, window: int | None = None,
                            target: str | None = None, both_strands: bool = False, max_n: float = 0.1,
                            chrom_alias: Any = None, on_error: str = "skip", on_skip: SkipCallback | None = None,
                            progress: bool = False, with_keys: bool = False) -> Iterator[Any]:
        """As :meth:`dnallm.DNAInference.iter_score_variants`: the VCF read here, the genome opened by each
        worker (its path must be readable there)."""
        from dnallm.io.variants import VcfReader, count_records

        from dnallm.io.genome import Genome

        Genome(genome, chrom_alias).close()  # a genome that cannot be read stops here, as in a local run
        genome = os.path.abspath(genome)
        reader = VcfReader(vcf)
        settings = dict(vcf=str(vcf), genome=genome, chrom_alias=chrom_alias, window=window, target=target,
                        both_strands=both_strands, max_n=max_n, on_error=on_error, with_keys=with_keys)
        total = count_records(reader.path) if progress else None
        try:
            blocks = (replace(b, inputs=len(b.items)) for b in site_blocks(reader, self.block_sites))
            yield from self._run("variants", blocks, settings, on_skip, progress, total, "variants")
        finally:
            reader.close()

    def score_variants(self, vcf: str | Path, genome: str | Path, **options: Any) -> pd.DataFrame:
        """As :meth:`dnallm.DNAInference.score_variants`."""
        return pd.concat(list(self.iter_score_variants(vcf, genome, **options)), ignore_index=True)

    # -- the engine -----------------------------------------------------------------------------------------------

    def _records(self, kind: str, source: Any, keywords: dict[str, Any], options: InputOptions,
                 exclude_ids: Container[str], progress: bool) -> Iterator[pd.DataFrame]:
        """predict and embed: the records read and checked here, as the local engine reads them."""
        from dnallm.io.fasta import count_records, iter_records

        total = count_records(source) if progress and isinstance(source, (str, os.PathLike)) else None
        pending: list[Skipped] = []
        quiet = replace(options, on_skip=pending.append) if options.skipping else options
        blocks = record_blocks(iter_records(source, options=quiet), pending, exclude_ids, self.block_records,
                               self.block_bp)
        settings = dict(on_error=options.on_error, keywords=keywords)
        yield from self._run(kind, blocks, settings, options.on_skip, progress, total, "records")

    def _run(self, kind: str, blocks: Iterable[Block], settings: dict[str, Any], on_skip: SkipCallback | None,
             progress: bool, total: int | None, unit: str) -> Iterator[Any]:
        """Blocks to the workers, results back in input order; statistics in :attr:`last_run`."""
        import time

        from ray.util import ActorPool

        from dnallm.progress import Progress

        stats = self.last_run = RunStats()
        start = time.perf_counter()
        bar = Progress(total=total, unit=unit, desc="dnallm") if progress else None
        pool = ActorPool(self._actors)
        waiting: dict[int, tuple[Block, list, dict]] = {}
        sent: dict[int, Block] = {}
        limit = 2 * len(self._actors) + 1
        next_out = 0

        def submit(actor, job):
            return actor.run.remote(kind, job[0], job[1], settings)

        def take() -> Iterator[Any]:  # results in order, as far as they have come
            nonlocal next_out
            index, events, counts = _get_next(pool)
            waiting[index] = (sent.pop(index), events, counts)
            while next_out in waiting:
                block, events, counts = waiting.pop(next_out)
                next_out += 1
                yield from self._hand_on(block, events, counts, stats, on_skip, bar)

        try:
            n = 0
            for block in blocks:
                if not block.items:  # records of a resumed run, all passed over
                    stats.excluded += block.excluded
                    if bar is not None:
                        bar.update(block.inputs)
                    continue
                while len(sent) + len(waiting) >= limit:
                    yield from take()
                sent[n] = block
                pool.submit(submit, (n, block))
                n += 1
            while sent:
                yield from take()
        finally:
            if bar is not None:
                bar.close()
            stats.seconds = time.perf_counter() - start
        stats.warn_lengths(self.trained_length_bp)
        if kind != "variants":
            stats.warn_skipped(unit)

    def _hand_on(self, block: Block, events: list, counts: dict, stats: RunStats, on_skip: SkipCallback | None,
                 bar: Any) -> Iterator[Any]:
        for name in _COUNTERS:
            setattr(stats, name, getattr(stats, name) + counts[name])
        stats.attention_types.update(counts["attention_types"])
        if counts["shortest"] is not None:
            stats.shortest = counts["shortest"] if stats.shortest is None else min(stats.shortest, counts["shortest"])
        stats.longest = max(stats.longest, counts["longest"])
        stats.excluded += block.excluded
        for what, value in events:
            if what == "skip":
                stats.skipped.append(value)
                if on_skip is not None:
                    on_skip(value)
            else:
                yield value
        if bar is not None:
            bar.set_postfix_str(f"{stats.windows:,} model inputs", refresh=False)
            bar.update(block.inputs)


def _get(refs: Any) -> Any:
    """``ray.get``, with a dnallm error raised in a worker raised here as itself (one line for the CLI)."""
    ray = _ray()
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        raise _cause(exc) from None


def _get_next(pool: Any) -> Any:
    ray = _ray()
    try:
        return pool.get_next_unordered()
    except ray.exceptions.RayTaskError as exc:
        raise _cause(exc) from None
    except ray.exceptions.RayActorError as exc:
        raise DnallmError(f"a Ray worker died {RETRIES + 1} times running a block ({exc.__class__.__name__}); "
                          "see the worker logs under /tmp/ray/session_latest/logs") from None


def _cause(exc: Any) -> BaseException:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, DnallmError) else exc


