"""The ``dnallm`` command: argument handling only; the work is done by the library modules.

User errors print one line, ``dnallm: error: ...``, and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import re
import sys
import time
from collections.abc import Sequence

from dnallm import __version__
from dnallm.errors import DnallmError
from dnallm.registry import DEFAULT_MODEL


def _cmd_models(args: argparse.Namespace) -> int:
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


def _cmd_validate(args: argparse.Namespace) -> int:
    from dnallm.progress import Progress

    from dnallm.io.fasta import read_fasta

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


def _load(args: argparse.Namespace):
    from dnallm.inference import DNAInference

    inf = DNAInference(
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
        outputs = f": {', '.join(inf.output_columns)}" if inf.output_columns else ""
        print(
            f"dnallm: {args.model} ({type(inf.model).__name__}, {inf.head}{outputs}) on {inf.device}, "
            f"{str(inf.dtype).removeprefix('torch.')}, attention {inf.attn_implementation}, "
            f"{inf.tokenizer.family} tokens, {inf.tokenizer.max_tokens} per window",
            file=sys.stderr,
        )
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


class _SkipLog:
    """The side file of records left out under --on-error skip: id, where, reason (TSV), written as they come."""

    def __init__(self, args: argparse.Namespace):
        self.count = 0
        self.path = None
        self._handle = None
        self._tmp = None
        if args.on_error != "skip":
            return
        target = args.skipped
        if target is None and args.output not in (None, "-"):
            target = f"{args.output}.skipped.tsv"
        if target is not None:
            from pathlib import Path

            self.path = Path(target)
            if not self.path.parent.is_dir():
                raise DnallmError(f"{self.path}: the folder {self.path.parent} does not exist")
            self._tmp = self.path.with_name(self.path.name + ".partial")
            self._handle = open(self._tmp, "w", encoding="utf-8", newline="")
            self._writer = _tsv_writer(self._handle)
            self._writer.writerow(["id", "where", "reason"])

    def __call__(self, skipped) -> None:
        self.count += 1
        reason = " ".join(skipped.reason.split())  # one line in the TSV
        if self._handle is not None:
            self._writer.writerow([skipped.id, skipped.where, reason])  # quoted as the results are
            self._handle.flush()
        else:
            print(f"dnallm: skipped '{skipped.id}' ({skipped.where}): {reason}", file=sys.stderr)

    def finish(self) -> None:
        if self._handle is not None:
            import os

            self._handle.close()
            os.replace(self._tmp, self.path)

    def drop(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._tmp.unlink(missing_ok=True)


def _tsv_writer(handle):
    """A csv writer with the quoting of the result files (pandas' to_csv): a field holding a tab, a quote or a
    line end is quoted, quotes doubled, so that pandas reads every field back as it was."""
    import csv

    return csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def _content_id(path: str) -> dict:
    """What identifies one input's contents: its real path, size (bytes), mtime (ns) and a SHA-256 of all its
    bytes (1.4 s per GB on 2 cores, see benchmarks/resume_fingerprint.py). A pipe or other non-regular file cannot be
    read twice, so it gets ``{"pipe": path}`` and the run is not resumable."""
    import hashlib
    import os

    from pathlib import Path

    from dnallm.io.files import check_path as _check_path

    if path != "-":
        _check_path(Path(path))  # a missing or unreadable input is named as the reader names it
    if not os.path.isfile(path):
        return {"pipe": path}
    real = os.path.realpath(path)
    with open(real, "rb") as fh:
        st = os.fstat(fh.fileno())
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"path": real, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def _weights_id(model: str) -> list | None:
    """The identity of a local model folder's files: (relative name, size in bytes, mtime in ns) of every file,
    so that a resumed run refuses a partial output written with other weights, config or tokenizer. Reads no
    file contents (milliseconds); None for a hub name (the revision is in the fingerprint)."""
    import os

    if not os.path.isdir(model):
        return None
    files = []
    for root, dirs, names in os.walk(os.path.realpath(model)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            full = os.path.join(root, name)
            st = os.stat(full)
            files.append([os.path.relpath(full, model), st.st_size, st.st_mtime_ns])
    return files


def _resumable(args: argparse.Namespace) -> bool:
    """Whether every input is a regular file (a pipe's contents cannot be checked against a partial output)."""
    import os

    return all(os.path.isfile(path) for path in args.fasta)


def _fingerprint(args: argparse.Namespace, **extra) -> dict:
    """What a resumed run must share with the run that wrote the partial output: model (and the sizes and mtimes
    of a local model folder's files), options, and each input's contents (see :func:`_content_id`). The dtype
    is the one the run will use (``auto`` resolved on this machine), so that float32 and bfloat16 rows never mix
    in one file; attention backends and batch sizes change results only by rounding and may differ."""
    import os

    from dnallm.modeling import resolve_device, resolve_dtype

    model = args.model
    if os.path.isdir(model):
        model = os.path.realpath(model)
    dtype = str(resolve_dtype(args.dtype, resolve_device(args.device))).removeprefix("torch.")
    inputs = [_content_id(path) for path in args.fasta] if args.output not in (None, "-") else None
    return {"command": args.command, "model": model, "revision": args.revision, "weights": _weights_id(args.model),
            "inputs": inputs, "iupac": args.iupac, "uracil": args.uracil, "on_error": args.on_error,
            "dtype": dtype, "both_strands": getattr(args, "both_strands", False),
            "overlap": getattr(args, "overlap", None), **extra}


def _output_paths(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Every file this run of predict or embed writes, with the option that names it."""
    out: list[tuple[str, str]] = []
    if args.output not in (None, "-"):
        if str(args.output).lower().endswith(".npz"):
            out += [("-o", args.output), ("-o (its temporary file)", f"{args.output}.partial.npz")]
        else:
            out += [("-o", args.output), ("-o (its partial output)", f"{args.output}.partial"),
                    ("-o (its resume record)", f"{args.output}.partial.json")]
    if args.on_error == "skip":
        target = args.skipped
        if target is None and args.output not in (None, "-"):
            target = f"{args.output}.skipped.tsv"
        if target is not None:
            label = "--skipped" if args.skipped is not None else "the skipped list"
            out += [(label, target), (f"{label} (its temporary file)", f"{target}.partial")]
    return out


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: the same real path (symlinks followed) or, both existing, the same inode
    and device (hard links)."""
    import os

    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_collisions(outputs: Sequence[tuple[str, str]], inputs: Sequence[str]) -> None:
    """The one check, before anything is written or loaded, that no output (``(option, path)`` pairs) is one of
    the inputs or another output of the same run (same real path, hard link or symlink target)."""
    for label, path in outputs:
        for source in inputs:
            if _same_file(path, source):
                raise DnallmError(f"{label} {path} is the input {source}: writing it would destroy the input; "
                                  "choose another output name")
    for i, (label, path) in enumerate(outputs):
        for other_label, other in outputs[:i]:
            if _same_file(path, other):
                raise DnallmError(f"{label} {path} is also the {other_label} output {other}: one file cannot hold "
                                  "both; choose different names")


def _check_paths(args: argparse.Namespace) -> None:
    """predict and embed: no output over an input or over another output."""
    _refuse_collisions(_output_paths(args), args.fasta)


def _check_resumable(args: argparse.Namespace) -> None:
    import os

    if args.resume and not _resumable(args):
        pipes = ", ".join(p for p in args.fasta if not os.path.isfile(p))
        raise DnallmError(f"--resume: {pipes} is a pipe, not a file; a pipe's contents cannot be checked against "
                          "the partial output, so such a run cannot be resumed; write the input to a file and run "
                          "on the file")


def _records(args: argparse.Namespace):
    """The input of predict and embed: the one path as given, or the records of several files in order, file by
    file, with an id repeated across files handled like one repeated within a file (an error naming both
    places, or skipped under --on-error skip, the first kept)."""
    if len(args.fasta) == 1:
        return args.fasta[0]
    from dnallm.errors import InputError
    from dnallm.io.fasta import Skipped, read_fasta

    def chained(on_skip):
        first: dict[str, str] = {}
        for path in args.fasta:
            for rec in read_fasta(path, iupac=args.iupac, uracil=args.uracil, on_error=args.on_error,
                                  on_skip=on_skip):
                if rec.id in first:
                    reason = f"duplicate id (first seen at {first[rec.id]}); ids must be unique across the inputs"
                    if args.on_error != "skip":
                        raise InputError(f"{rec.origin}: record '{rec.id}': {reason}")
                    on_skip(Skipped(rec.id, rec.origin, reason))
                    continue
                first[rec.id] = rec.origin
                yield rec

    return chained


def _stream(args: argparse.Namespace, writer, run, unit: str) -> int:
    """Run ``run(inf, skip_log)`` (an iterator of frames) into ``writer``; the shared body of predict and embed."""
    if writer.complete_already:
        if not args.quiet:
            print(f"dnallm: {args.output} is complete already (no {args.output}.partial to resume); nothing to do",
                  file=sys.stderr)
        return 0
    skip_log = None
    resumable = _resumable(args)
    if writer.restarted:  # said even under -q: the rows written before are gone
        print(f"dnallm: {writer.restarted}", file=sys.stderr)
    if not resumable and writer.partial is not None and not args.quiet:
        print("dnallm: the input is a pipe, not a file: this run cannot be resumed with --resume", file=sys.stderr)
    try:
        skip_log = _SkipLog(args)
        inf = _load(args)
        writer.columns_if_empty = inf.result_columns(args.command, getattr(args, "per_window", False))
        if writer.resumed_rows and not args.quiet:
            print(f"dnallm: resuming {writer.partial}: {writer.resumed_rows:,} rows ({len(writer.done_ids):,} "
                  "records) done already", file=sys.stderr)
        for frame in run(inf, skip_log):
            writer.write(frame)
    except BaseException as exc:
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
        raise
    writer.close()
    skip_log.finish()
    _summary(args, inf, writer.rows, unit)
    if skip_log.count and not args.quiet:
        listed = f" (listed in {skip_log.path})" if skip_log.path else ""
        print(f"dnallm: {skip_log.count:,} records skipped{listed}", file=sys.stderr)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from dnallm.io.writers import ResultWriter

    _check_paths(args)
    _check_resumable(args)
    args.overlap = _overlap_value(args.overlap)
    # checks the format, the folder and any partial output before the model loads
    writer = ResultWriter(args.output, resume=args.resume, per_window=args.per_window,
                          fingerprint=_fingerprint(args, per_window=args.per_window))

    def run(inf, skip_log):
        source = _records(args)
        return inf.iter_predict(source(_in_cli_words(skip_log)) if callable(source) else source, per_window=args.per_window,
                                progress=not args.quiet, iupac=args.iupac, uracil=args.uracil,
                                on_error=args.on_error, on_skip=_in_cli_words(skip_log),
                                exclude_ids=writer.done_ids, both_strands=args.both_strands)

    return _stream(args, writer, run, "rows")


def _cmd_embed(args: argparse.Namespace) -> int:
    from dnallm.io.writers import ResultWriter

    _check_paths(args)
    args.overlap = _overlap_value(args.overlap)
    if str(args.output).lower().endswith(".npz"):
        if args.resume:
            raise DnallmError("--resume works with .parquet, .tsv, .csv and .jsonl output, not .npz")
        skip_log = _SkipLog(args)
        try:
            inf = _load(args)
            source = _records(args)
            ids, vectors = inf.embed(source(_in_cli_words(skip_log)) if callable(source) else source, pooling=args.pooling,
                                     progress=not args.quiet, iupac=args.iupac, uracil=args.uracil,
                                     on_error=args.on_error, on_skip=_in_cli_words(skip_log),
                                     both_strands=args.both_strands)
        except BaseException:
            skip_log.drop()
            raise
        from dnallm.io.writers import write_npz

        write_npz(args.output, ids, vectors)
        skip_log.finish()
        _summary(args, inf, len(ids), "embeddings")
        return 0
    _check_resumable(args)
    writer = ResultWriter(args.output, resume=args.resume,
                          fingerprint=_fingerprint(args, pooling=args.pooling))

    def run(inf, skip_log):
        source = _records(args)
        return inf.iter_embed(source(_in_cli_words(skip_log)) if callable(source) else source, pooling=args.pooling,
                              progress=not args.quiet, iupac=args.iupac, uracil=args.uracil,
                              on_error=args.on_error, on_skip=_in_cli_words(skip_log),
                              exclude_ids=writer.done_ids, both_strands=args.both_strands)

    return _stream(args, writer, run, "embeddings")


def _parse_heads(text: str):
    if text in ("mean", "all"):
        return text
    try:
        heads = [int(part) for part in text.split(",")]
    except ValueError:
        raise DnallmError(f"--head takes 'mean', a head number or a comma-separated list, not {text!r}") from None
    return heads[0] if len(heads) == 1 else heads


def _parse_region(text: str | None):
    if text is None:
        return None
    try:
        start, end = (int(part.replace(",", "")) for part in text.split("-"))
    except ValueError:
        raise DnallmError(
            f"--region takes START-END in 0-based bp, end excluded (e.g. 1200-1400), not {text!r}"
        ) from None
    return start, end


def _find_record(path: str, record_id: str | None, iupac: str, uracil: str):
    from dnallm.io.fasta import read_fasta

    records = read_fasta(path, iupac=iupac, uracil=uracil)
    if record_id is None:
        first = next(records)
        second = next(records, None)
        if second is not None:
            raise DnallmError(f"{path} holds several records ({first.id}, {second.id}, ...); choose one with --id")
        return first
    ids = []
    for rec in records:
        if rec.id == record_id:
            return rec
        ids.append(rec.id)
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    raise DnallmError(f"{path}: no record with id '{record_id}' (ids there: {shown})")


def write_bedgraph(path: str, chrom: str, values, name: str, start: int = 0) -> None:
    """bedGraph of per-bp values: the record id as chromosome, 0-based coordinates, equal neighbours merged.

    Written whole or not at all: into ``PATH.partial`` next to it, renamed over ``path`` once complete."""
    import os

    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    change = np.flatnonzero(np.diff(values) != 0) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(values)]])
    tmp = f"{path}.partial"
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(f'track type=bedGraph name="{name}" description="dnallm attention received per bp"\n')
            for lo, hi in zip(starts, ends):
                out.write(f"{chrom}\t{start + lo}\t{start + hi}\t{values[lo]:.6g}\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _save_figure(fig, path: str) -> None:
    """``fig`` saved whole or not at all (into a temporary name next to ``path``, then renamed)."""
    import os
    from pathlib import Path

    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial{target.suffix}")
    try:
        fig.savefig(tmp, dpi=150, format=target.suffix.lstrip(".").lower())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_output(path: str, flag: str, inputs: Sequence[str], others: Sequence[tuple[str, str]] = ()) -> None:
    """Before any compute: ``path`` (given with ``flag``) can be written, as predict checks its -o: its folder
    exists and is writable, it is not a folder, not one of ``inputs`` (same file, hard link or symlink target),
    and not another output of the run (``others``: (flag, path) pairs)."""
    import os
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise DnallmError(f"{flag} {path}: is a folder; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise DnallmError(f"{flag} {path}: the folder {parent} does not exist; create it first or write elsewhere")
    if not os.access(parent, os.W_OK):
        raise DnallmError(f"{flag} {path}: the folder {parent} is not writable by this user")
    _refuse_collisions([*((f, o) for f, o in others if o is not None), (flag, path)], inputs)


def _cmd_attention(args: argparse.Namespace) -> int:
    record = _find_record(args.fasta, args.id, args.iupac, args.uracil)
    head = _parse_heads(args.head)
    region = _parse_region(args.region)
    if args.output is None and args.track is None:
        raise DnallmError("nothing to write: give -o FIGURE (.png, .pdf, .svg) and/or --track FILE.bedgraph")
    if args.output is not None and not args.output.lower().endswith((".png", ".pdf", ".svg")):
        raise DnallmError(f"{args.output}: the figure must be .png, .pdf or .svg")
    if args.output is not None:
        _check_output(args.output, "-o", [args.fasta])
    if args.track is not None:
        _check_output(args.track, "--track", [args.fasta], [("-o", args.output)])
    inf = _load(args)
    if args.output is not None:
        import matplotlib

        matplotlib.use("Agg")
        fig = inf.plot_attentions(record, layer=args.layer, head=head, region=region, window=args.window)
        _save_figure(fig, args.output)
        if not args.quiet:
            print(f"dnallm: attention of '{record.id}', layer {args.layer} -> {args.output}", file=sys.stderr)
    if args.track is not None:
        track = inf.attention_track(record, layer=args.layer, head=head if head != "all" else "mean",
                                    query=args.query)
        write_bedgraph(args.track, record.id, track, f"{record.id} layer {args.layer}")
        if not args.quiet:
            print(f"dnallm: per-bp attention track of '{record.id}' ({len(track):,} bp) -> {args.track}",
                  file=sys.stderr)
    return 0


def _check_output_folder(out, inputs: Sequence[str]) -> None:
    """Before any compute: the ``dnallm motifs -o`` folder exists as a writable folder, or can be made (its
    nearest existing parent is a writable folder), and none of the files it will hold is an input."""
    import os

    if out.exists() and not out.is_dir():
        raise DnallmError(f"-o {out}: exists and is not a folder; -o names the folder for the results")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DnallmError(f"-o {out}: {existing} is a file, not a folder; the results folder cannot be made there")
    if not os.access(existing, os.W_OK):
        raise DnallmError(f"-o {out}: the folder {existing} is not writable by this user")
    _refuse_collisions([(f"-o {out}:", str(out / name))
                        for name in ("motifs.tsv", "candidates.tsv", "motifs.meme", "logos.png")], inputs)


def _cmd_motifs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dnallm.io.fasta import read_fasta
    from dnallm.motifs import plot_logos, read_jaspar, write_meme, write_pfms

    out = Path(args.output)
    _check_output_folder(out, [args.fasta, args.background] + ([args.jaspar] if args.jaspar else []))
    positives = list(read_fasta(args.fasta, iupac=args.iupac, uracil=args.uracil))
    background = list(read_fasta(args.background, iupac=args.iupac, uracil=args.uracil))
    database = read_jaspar(args.jaspar) if args.jaspar else None
    inf = _load(args)
    result = inf.find_motifs(
        positives, background, layer=args.layer, progress=not args.quiet, k=args.k, alpha=args.alpha,
        max_motifs=args.max_motifs, database=database,
    )
    out.mkdir(parents=True, exist_ok=True)
    table = result.table()
    table.to_csv(out / "motifs.tsv", sep="\t", index=False)
    result.candidates.to_csv(out / "candidates.tsv", sep="\t", index=False)
    write_meme(result.motifs, out / "motifs.meme")
    write_pfms(result.motifs, out / "pfm")
    if result.motifs:
        import matplotlib

        matplotlib.use("Agg")
        plot_logos(result.motifs, out / "logos.png")
    if not args.quiet:
        print(f"dnallm: {len(result.motifs)} motifs from {len(positives):,} positives vs {len(background):,} "
              f"background sequences ({(result.candidates.qvalue <= args.alpha).sum():,} of "
              f"{len(result.candidates):,} candidate {args.k}-mers enriched) -> {out}/", file=sys.stderr)
        for row in table.head(5).itertuples(index=False):
            best = f", best match {row.match1} ({row.match1_score:.2f})" if hasattr(row, "match1") else ""
            print(f"dnallm:   {row.rank}. {row.consensus} ({row.instances} sites, q {row.qvalue:.1e}){best}",
                  file=sys.stderr)
    return 0


def _model_options(parser: argparse.ArgumentParser, several: bool = False) -> None:
    if several:
        parser.add_argument("fasta", nargs="+", help="FASTA files, plain or gzip (records in order, file by file)")
    else:
        parser.add_argument("fasta", help="FASTA file, plain or gzip")
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help="model directory, models.yaml name (see `dnallm models`) or Hugging Face hub id "
                             f"(default: {DEFAULT_MODEL}, the embedded demo model, offline)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", default="auto", help="auto (default: float32 on CPU), float32, bfloat16, float16")
    parser.add_argument("--attn", default="auto", choices=["auto", "flash_attention_2", "sdpa", "eager"],
                        help="attention backend (default: the fastest the model, device and dtype allow)")
    parser.add_argument("--max-batch-tokens", type=int, default=None,
                        help="tokens per forward pass, padding included (default 4096 on CPU, 16384 on a GPU)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models that run Python code from their repository (read it first)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load weights stored only as a pickle (pytorch_model.bin); unpickling can run code "
                             "hidden in the file, so only for files you trust (default: safetensors only)")
    parser.add_argument("--revision", help="hub branch, tag or commit")
    parser.add_argument("--iupac", choices=["n", "error"], default="n",
                        help="IUPAC ambiguity codes: replace by N (default) or reject")
    parser.add_argument("--uracil", choices=["t", "error"], default="t", help="U: read as T (default) or reject")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary on stderr")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on-error", choices=["fail", "skip"], default="fail",
                        help="a bad record (bad character, no sequence, repeated id, too short): stop with an error "
                             "(default) or leave it out, list it in --skipped and go on")
    parser.add_argument("--skipped", metavar="FILE",
                        help="TSV of the records left out by --on-error skip (default: OUTPUT.skipped.tsv; "
                             "on stderr when the output is stdout)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from OUTPUT.partial: only the records not done yet run")


def _window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--both-strands", action="store_true",
                        help="each window's output is the mean of the window's and its reverse complement's "
                             "(coordinates stay on the forward strand); twice the compute")
    parser.add_argument("--overlap", metavar="TOKENS",
                        help="tokens shared by consecutive windows of records longer than the model (default a "
                             "tenth of a window; for k-mer (DNABERT) and single-nucleotide models one token per bp)")


def _overlap_value(text: str | int | None) -> int | None:
    """--overlap as a number of tokens, checked before anything runs (the model checks it against its windows)."""
    if text is None or isinstance(text, int):
        return text
    try:
        value = int(text)
    except ValueError:
        raise DnallmError(f"--overlap takes a whole number of tokens (e.g. --overlap 20), not {text!r}") from None
    if value < 0:
        raise DnallmError(f"--overlap takes 0 or more tokens, not {value}")
    return value


#: the CLI flag of each library argument that messages name
_FLAGS = {
    "iupac": "--iupac", "uracil": "--uracil", "on_error": "--on-error", "pooling": "--pooling", "query": "--query",
    "window_overlap": "--overlap", "both_strands": "--both-strands", "per_window": "--per-window",
    "allow_pickle": "--allow-pickle", "trust_remote_code": "--trust-remote-code",
    "max_batch_tokens": "--max-batch-tokens", "heads": "--head", "head": "--head", "layer": "--layer",
    "layers": "--layer", "window": "--window", "region": "--region", "revision": "--revision",
}
_PY_ARGUMENT = re.compile(r"\b(\w+)=('[^']*'|\"[^\"]*\"|True|False|-?\d+)(?: \(CLI: ([^)]*)\))?")


def cli_words(message: str) -> str:
    """A library message as the CLI shows it: Python arguments (``iupac='error'``) become flags
    (``--iupac error``); a message that gives both forms (``allow_pickle=True (CLI: --allow-pickle)``) keeps
    the flag alone."""

    def flag(match: re.Match) -> str:
        name, value, cli = match.groups()
        if cli:
            return cli
        if name not in _FLAGS:
            return match.group(0)
        if value == "True":
            return _FLAGS[name]
        if value == "False":
            return f"no {_FLAGS[name]}"
        return f"{_FLAGS[name]} {value.strip(chr(39) + chr(34))}"

    return _PY_ARGUMENT.sub(flag, message)


def _in_cli_words(on_skip):
    """``on_skip`` hearing of skipped records with their reasons in the CLI's flag names."""
    import dataclasses

    def translated(skipped) -> None:
        on_skip(dataclasses.replace(skipped, reason=cli_words(skipped.reason)))

    return translated


class _CliFormatter(logging.Formatter):
    """Log lines with the CLI's flag names in place of Python arguments."""

    def format(self, record: logging.LogRecord) -> str:
        return cli_words(super().format(record))


def _verbose_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log progress details to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnallm",
        description="Inference with genomic DNA language models.",
    )
    parser.add_argument("--version", action="version", version=f"dnallm {__version__}")
    _verbose_option(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = sub.add_parser("models", help="list the DNA language models dnallm knows by name")
    models.add_argument("--family", choices=["overlapping_kmer", "nonoverlapping_kmer", "bpe", "single_nucleotide"],
                        help="only models of this tokenizer family")
    models.add_argument("--tsv", action="store_true", help="tab-separated output for other programs")
    models.set_defaults(func=_cmd_models)

    validate = sub.add_parser(
        "validate", help="check FASTA files against dnallm's input rules and count records and bases"
    )
    validate.add_argument("fasta", nargs="+", help="FASTA files, plain or gzip")
    validate.add_argument("--iupac", choices=["n", "error"], default="n",
                          help="IUPAC ambiguity codes: replace by N (default) or reject")
    validate.add_argument("--uracil", choices=["t", "error"], default="t", help="U: read as T (default) or reject")
    validate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    validate.set_defaults(func=_cmd_validate)

    predict = sub.add_parser("predict", help="one result row per FASTA record")
    _model_options(predict, several=True)
    predict.add_argument("-o", "--output", help="output file: .tsv, .csv, .jsonl or .parquet (default: TSV to stdout)")
    predict.add_argument("--per-window", action="store_true",
                         help="one row per window of long records, with its bp start and end")
    _window_options(predict)
    _run_options(predict)
    predict.set_defaults(func=_cmd_predict)

    embed = sub.add_parser("embed", help="one embedding per FASTA record")
    _model_options(embed, several=True)
    embed.add_argument("-o", "--output", required=True,
                       help="output file: .npz (ids, embeddings), .parquet, .tsv, .csv or .jsonl")
    embed.add_argument("--pooling", choices=["mean", "cls"], default="mean",
                       help="mean over sequence tokens (default) or the [CLS] token")
    _window_options(embed)
    _run_options(embed)
    embed.set_defaults(func=_cmd_embed)

    attention = sub.add_parser("attention", help="attention heatmap over bp of one record, and a per-bp track")
    _model_options(attention)
    attention.add_argument("--id", help="record id (needed when the file holds several records)")
    attention.add_argument("--layer", type=int, default=-1, help="layer, negative from the end (default -1)")
    attention.add_argument("--head", default="mean", help="mean (default), a head number, or a list such as 0,1,2")
    attention.add_argument("--region", help="START-END in record bp (0-based, end excluded) to zoom into")
    attention.add_argument("--window", type=int, help="which window of a record longer than the model (default 0)")
    attention.add_argument("--query", choices=["auto", "cls", "mean"], default="auto",
                           help="track: attention from the first special token (cls) or mean over queries")
    attention.add_argument("-o", "--output", help="figure: .png, .pdf or .svg")
    attention.add_argument("--track", help="bedGraph of the per-bp attention received over the whole record")
    attention.set_defaults(func=_cmd_attention)

    motifs = sub.add_parser("motifs", help="motifs from attention, enriched over a background, matched to JASPAR")
    _model_options(motifs)
    motifs.add_argument("--background", required=True, help="FASTA of background (negative) sequences")
    motifs.add_argument("-o", "--output", required=True,
                        help="folder: motifs.tsv, candidates.tsv, motifs.meme, pfm/, logos.png")
    motifs.add_argument("--layer", type=int, default=-1, help="attention layer, negative from the end (default -1)")
    motifs.add_argument("-k", "--k", type=int, default=8, help="candidate k-mer length (default 8)")
    motifs.add_argument("--alpha", type=float, default=0.05, help="Benjamini-Hochberg q-value cut-off (0.05)")
    motifs.add_argument("--max-motifs", type=int, default=10, help="most motifs reported (default 10)")
    motifs.add_argument("--jaspar", help="motif database to match (default: JASPAR 2022 CORE vertebrates)")
    motifs.set_defaults(func=_cmd_motifs)
    for command in sub.choices.values():  # -v after the command too (dnallm predict x.fa -v)
        _verbose_option(command, argparse.SUPPRESS)
    return parser


def _full_message(exc: OSError) -> str:
    """A full disk outside the result writer: standard output or the file the error names."""
    if exc.filename is None:
        return ("standard output: no space left on device (the disk or device that standard output goes to is "
                "full); free space there, or write to a file with -o FILE")
    return f"{exc.filename}: no space left on device; free space on that disk, or write elsewhere"


def _drop_stdout() -> None:
    """After standard output failed (a full disk), send what is still buffered for it to /dev/null, so that the
    interpreter's flush at exit does not print a second error."""
    import os

    try:
        sys.stdout.flush()
    except OSError:
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, sys.stdout.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):  # not a real file descriptor (a test's capture)
            pass
    except ValueError:  # closed
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    before = set(logging.getLogger().handlers)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="dnallm: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in set(logging.getLogger().handlers) - before:  # flag names, not Python arguments, in the log
        handler.setFormatter(_CliFormatter("dnallm: %(levelname)s: %(message)s"))
    import signal

    def terminated(signum, frame):  # a batch system's SIGTERM: stop like Ctrl-C, keeping the partial output
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a full stdout (> /dev/full) fails here, not at exit with a traceback
        return code
    except DnallmError as exc:
        print(f"dnallm: error: {cli_words(' '.join(str(exc).split()))}", file=sys.stderr)
        _drop_stdout()
        return 2
    except KeyboardInterrupt:
        print("dnallm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `dnallm models | head`
        return 0
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(f"dnallm: error: {_full_message(exc)}", file=sys.stderr)
        _drop_stdout()
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
