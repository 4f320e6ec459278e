"""What each ``dnallm`` command does with its parsed arguments (the parser is in :mod:`dnallm.cli`).

Each command checks its outputs before anything is loaded, loads the model, calls :class:`dnallm.DNAInference`'s
public methods and writes through :mod:`dnallm.io`; progress and summaries go to stderr. Library messages are
shown in the CLI's words (``--iupac error``, not ``iupac='error'``).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dnallm.cli_text import in_cli_words
from dnallm.errors import DnallmError
from dnallm.io.fingerprint import check_resumable, run_fingerprint
from dnallm.io.inputs import chain_fasta
from dnallm.io.options import InputOptions, SkipCallback
from dnallm.io.paths import refuse_collisions, result_outputs
from dnallm.io.skiplog import SkipLog, skip_list_path

# -- models, validate -----------------------------------------------------------------------------------------


def models(args: argparse.Namespace) -> int:
    """``dnallm models``: the registry as a table (or TSV)."""
    from dnallm.registry import load_registry

    specs = [s for s in load_registry().values() if args.family is None or s.tokenizer_family == args.family]
    rows = [
        (
            s.name,
            s.tokenizer_family + (f" (k={s.k})" if s.k else ""),
            str(s.max_tokens),
            "?" if s.max_bp is None else f"{s.max_bp:,}",
            "yes" if s.trust_remote_code else "no",
            s.license or "-",
            s.hub_id or "(inside dnallm)",
            s.task_head,
            s.predict_columns,
        )
        for s in specs
    ]
    header = ("name", "tokenizer", "max tokens", "max bp", "remote code", "license", "hub id", "head", "predict gives")
    if args.tsv:
        print("\t".join(header))
        for row in rows:
            print("\t".join(row))
        return 0
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def validate(args: argparse.Namespace) -> int:
    """``dnallm validate``: read each file under the input rules; count records and bases."""
    from dnallm.io.fasta import read_fasta
    from dnallm.progress import Progress

    for path in args.fasta:
        start = time.perf_counter()
        n = bases = n_bases = 0
        shortest, longest = None, 0
        records = read_fasta(path, iupac=args.iupac, uracil=args.uracil)
        bar = Progress(records, desc=str(path), unit="records", disable=bool(args.quiet), leave=False,
                       file=sys.stderr)
        for rec in bar:
            n += 1
            length = len(rec.seq)
            bases += length
            n_bases += rec.seq.count("N")
            shortest = length if shortest is None else min(shortest, length)
            longest = max(longest, length)
        seconds = time.perf_counter() - start
        print(
            f"{path}: {n:,} records, {bases:,} bp (shortest {shortest:,}, longest {longest:,}, "
            f"N {n_bases:,}), valid, read in {seconds:.2f} s"
        )
    return 0


# -- predict, embed -------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace):
    """The model of ``-m`` with the loading options, and one line on stderr saying what it is."""
    from dnallm.inference import DNAInference

    engine = DNAInference
    if getattr(args, "engine", "local") == "ray":
        from dnallm.distributed import RayInference, engine_options

        engine = functools.partial(RayInference, **engine_options(args))
    inf = engine(
        args.model,
        device=args.device,
        dtype=args.dtype,
        attn_implementation=args.attn,
        max_batch_tokens=args.max_batch_tokens,
        trust_remote_code=args.trust_remote_code,
        revision=args.revision,
        allow_pickle=args.allow_pickle,
        window_overlap=getattr(args, "overlap", None),
    )
    if not args.quiet:
        print(f"dnallm: {args.model} {inf.describe()}", file=sys.stderr)
    return inf


def _summary(args: argparse.Namespace, inf, rows: int, unit: str) -> None:
    if args.quiet:
        return
    run = inf.last_run
    rate = run.records / run.seconds if run.seconds else 0.0
    where = args.output if args.output not in (None, "-") else "stdout"
    print(
        f"dnallm: {run.records:,} records ({run.windows:,} windows, {run.padding_fraction:.0%} padding) in "
        f"{run.seconds:.1f} s, {rate:,.0f} records/s; {rows:,} {unit} -> {where}",
        file=sys.stderr,
    )


def _skip_log(args: argparse.Namespace) -> SkipLog:
    """The list of the records --on-error skip leaves out (a file, or stderr)."""
    return SkipLog(skip_list_path(args.output, args.skipped) if args.on_error == "skip" else None)


def resume_fingerprint(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """What a resumed predict or embed run must share with the run that wrote its partial output (see
    :func:`dnallm.io.fingerprint.run_fingerprint`); ``auto`` dtype resolved on this machine."""
    from dnallm.modeling import resolve_device, resolve_dtype

    dtype = str(resolve_dtype(args.dtype, resolve_device(args.device))).removeprefix("torch.")
    return run_fingerprint(
        args.command, args.model, revision=args.revision, dtype=dtype,
        inputs=args.fasta if args.output not in (None, "-") else None, iupac=args.iupac, uracil=args.uracil,
        on_error=args.on_error, both_strands=getattr(args, "both_strands", False),
        overlap=getattr(args, "overlap", None), **extra,
    )


def _check_outputs(args: argparse.Namespace) -> None:
    """predict and embed, before anything loads: no output over an input or another output."""
    refuse_collisions(result_outputs(args.output, args.on_error, args.skipped), args.fasta)


def _source(args: argparse.Namespace, on_skip: SkipCallback) -> str | Iterator:
    """The input of predict and embed: the one path as given, or the records of several files read as one."""
    if len(args.fasta) == 1:
        return args.fasta[0]
    return chain_fasta(args.fasta, InputOptions(iupac=args.iupac, uracil=args.uracil, on_error=args.on_error,
                                                    on_skip=on_skip))


def _run_keywords(args: argparse.Namespace, skip_log: SkipLog) -> dict[str, Any]:
    """The keywords of DNAInference's methods for the input policy and progress."""
    return dict(progress=not args.quiet, iupac=args.iupac, uracil=args.uracil, on_error=args.on_error,
                on_skip=in_cli_words(skip_log), both_strands=args.both_strands)


def _stream(args: argparse.Namespace, writer, run: Callable[[Any, SkipLog], Iterable], unit: str) -> int:
    """Run ``run(inf, skip_log)`` (an iterator of frames) into ``writer``; the shared body of predict and embed."""
    if writer.complete_already:
        if not args.quiet:
            print(f"dnallm: {args.output} is complete already (no {args.output}.partial to resume); nothing to do",
                  file=sys.stderr)
        return 0
    skip_log = None
    resumable = all(os.path.isfile(path) for path in args.fasta)  # a pipe's rows cannot be checked on resume
    if writer.restarted:  # said even under -q: the rows written before are gone
        print(f"dnallm: {writer.restarted}", file=sys.stderr)
    if not resumable and writer.partial is not None and not args.quiet:
        print("dnallm: the input is a pipe, not a file: this run cannot be resumed with --resume", file=sys.stderr)
    try:
        skip_log = _skip_log(args)
        inf = _load(args)
        writer.columns_if_empty = inf.result_columns(args.command, getattr(args, "per_window", False))
        if writer.resumed_rows and not args.quiet:
            print(f"dnallm: resuming {writer.partial}: {writer.resumed_rows:,} rows ({len(writer.done_ids):,} "
                  "records) done already", file=sys.stderr)
        for frame in run(inf, skip_log):
            writer.write(frame)
    except BaseException as exc:
        _stopped(writer, skip_log, resumable, exc)
        raise
    writer.close()
    skip_log.finish()
    _summary(args, inf, writer.rows, unit)
    _skipped_summary(args, skip_log)
    return 0


def _stopped(writer, skip_log: SkipLog | None, resumable: bool, exc: BaseException) -> None:
    """A run that stopped: keep its rows for --resume where they can be checked, and say so."""
    writer.abort()
    if skip_log is not None:
        skip_log.drop()
    if writer.partial is not None and writer.rows and not resumable:
        writer.discard()  # a pipe's rows cannot be checked on resume: nothing that invites one
    elif writer.partial is not None and writer.rows:
        where = f"{writer.rows:,} rows kept in {writer.partial}"
        if isinstance(exc, DnallmError):
            raise DnallmError(f"{exc} ({where}; add --resume to continue: the rows are kept if the input is "
                              "unchanged, else the run starts afresh)") from None
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            print(f"dnallm: stopped; {where}; run the same command with --resume to continue", file=sys.stderr)


def _skipped_summary(args: argparse.Namespace, skip_log: SkipLog) -> None:
    if skip_log.count and not args.quiet:
        listed = f" (listed in {skip_log.path})" if skip_log.path else ""
        print(f"dnallm: {skip_log.count:,} records skipped{listed}", file=sys.stderr)


def predict(args: argparse.Namespace) -> int:
    """``dnallm predict``: one row per record (or per window), streamed into -o or stdout."""
    from dnallm.io.writers import ResultWriter

    _check_outputs(args)
    check_resumable(args.fasta, args.resume)
    # checks the format, the folder and any partial output before the model loads
    writer = ResultWriter(args.output, resume=args.resume, per_window=args.per_window,
                          fingerprint=resume_fingerprint(args, per_window=args.per_window))

    def run(inf, skip_log: SkipLog):
        return inf.iter_predict(_source(args, in_cli_words(skip_log)), per_window=args.per_window,
                                exclude_ids=writer.done_ids, **_run_keywords(args, skip_log))

    return _stream(args, writer, run, "rows")


def embed(args: argparse.Namespace) -> int:
    """``dnallm embed``: one embedding per record, into .npz (whole) or a table (streamed, resumable)."""
    from dnallm.io.writers import ResultWriter

    _check_outputs(args)
    if str(args.output).lower().endswith(".npz"):
        return _embed_npz(args)
    check_resumable(args.fasta, args.resume)
    writer = ResultWriter(args.output, resume=args.resume, fingerprint=resume_fingerprint(args, pooling=args.pooling))

    def run(inf, skip_log: SkipLog):
        return inf.iter_embed(_source(args, in_cli_words(skip_log)), pooling=args.pooling,
                              exclude_ids=writer.done_ids, **_run_keywords(args, skip_log))

    return _stream(args, writer, run, "embeddings")


def _embed_npz(args: argparse.Namespace) -> int:
    """``dnallm embed -o x.npz``: every embedding in memory, then the file written whole."""
    from dnallm.io.atomic import write_npz

    if args.resume:
        raise DnallmError("--resume works with .parquet, .tsv, .csv and .jsonl output, not .npz")
    skip_log = _skip_log(args)
    try:
        inf = _load(args)
        ids, vectors = inf.embed(_source(args, in_cli_words(skip_log)), pooling=args.pooling,
                                 **_run_keywords(args, skip_log))
    except BaseException:
        skip_log.drop()
        raise
    write_npz(args.output, ids, vectors)
    skip_log.finish()
    _summary(args, inf, len(ids), "embeddings")
    return 0
