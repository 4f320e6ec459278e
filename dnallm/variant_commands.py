"""``dnallm variants``: a VCF and its genome in, a table of variant effects or the VCF annotated out (the parser
is in :mod:`dnallm.cli`; the scores in :mod:`dnallm.variants`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from dnallm.commands import _load
from dnallm.errors import DnallmError
from dnallm.io.paths import check_output_file, refuse_collisions, result_outputs
from dnallm.io.skiplog import SkipLog, skip_list_path

VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz")


def describe(column: str, model: str) -> str:
    """The ``##INFO`` description of a score column."""
    part, _, name = column.partition("_")
    if column == "llr":
        return f"dnallm {model}: masked-LM log p(ALT) - log p(REF) at the variant"
    if column.startswith("log_odds_ratio_"):
        return f"dnallm {model}: log-odds of {column.removeprefix('log_odds_ratio_')}, ALT window minus REF window"
    what = {"ref": "on the REF window", "alt": "on the ALT window", "delta": "ALT minus REF"}.get(part, "")
    return f"dnallm {model}: {name} {what}"


def _float_text(value: float) -> str:
    return "." if np.isnan(value) else str(np.float32(value))


def variants(args: argparse.Namespace) -> int:
    """``dnallm variants``: one row per (site, ALT) into a table, or the input VCF with INFO per score."""
    from dnallm.io.variants import info_id, write_annotated
    from dnallm.variants import KEYS
    from dnallm.io.writers import ResultWriter

    out = args.output
    as_vcf = out is not None and out.lower().endswith(VCF_SUFFIXES)
    inputs = [args.vcf, args.genome, f"{args.genome}.fai", f"{args.genome}.gzi"]  # the index is the genome's too
    inputs += [args.chrom_alias] if args.chrom_alias not in (None, "chr") else []
    refuse_collisions(result_outputs(out, "skip" if args.on_error == "skip" else "fail", args.skipped), inputs)
    if as_vcf:
        check_output_file(out, "-o", inputs)
        writer = None
    else:
        writer = ResultWriter(out)  # checks the format and the folder before the model loads
    skip_log = SkipLog(skip_list_path(out, args.skipped) if args.on_error == "skip" else None)
    scored: dict[int, dict[int, list[str]]] = {}
    rows = 0
    try:
        inf = _load(args)
        frames = inf.iter_score_variants(
            args.vcf, args.genome, window=args.window, target=args.target, both_strands=args.both_strands,
            max_n=args.max_n, chrom_alias=args.chrom_alias, on_error=args.on_error, on_skip=skip_log,
            progress=not args.quiet, with_keys=True)
        for frame, keys in frames:
            rows += len(frame)
            columns = list(frame.columns[len(KEYS):])
            if writer is not None:
                writer.write(frame)
                continue
            values = frame[columns].to_numpy(np.float64)
            for (record, alt), row in zip(keys.tolist(), values):
                scored.setdefault(record, {})[alt] = [_float_text(v) for v in row]
        if as_vcf:
            fields = [(info_id(c), describe(c, args.model)) for c in columns]
            header = [f"##dnallm_variants=<model=\"{args.model}\",window={args.window or 'model'},"
                      f"both_strands={args.both_strands}>"]
            write_annotated(args.vcf, out, fields, scored, header)
    except BaseException:
        if writer is not None:
            writer.abort()
            writer.discard()  # not resumable: nothing is left
        skip_log.drop()
        raise
    if writer is not None:
        writer.close()
    skip_log.finish()
    _summary(args, inf, rows, skip_log)
    return 0


def _summary(args: argparse.Namespace, inf: Any, rows: int, skip_log: SkipLog) -> None:
    if args.quiet:
        return
    run = inf.last_run
    rate = run.records / run.seconds if run.seconds else 0.0
    where = args.output if args.output not in (None, "-") else "stdout"
    skipped = ""
    if skip_log.count:
        listed = f", listed in {skip_log.path}" if skip_log.path else ""
        skipped = f"; {skip_log.count:,} not scored{listed}"
    print(f"dnallm: {rows:,} variants scored ({run.windows:,} model inputs, {run.padding_fraction:.0%} padding) in "
          f"{run.seconds:.1f} s, {rate:,.0f} variants/s{skipped} -> {where}", file=sys.stderr)


def check_arguments(args: argparse.Namespace) -> None:
    """Values argparse does not check."""
    if args.window is not None and args.window < 1:
        raise DnallmError(f"--window takes a length in bp, at least 1, not {args.window}")
    if not 0 <= args.max_n <= 1:
        raise DnallmError(f"--max-n takes a fraction of the window from 0 to 1 (e.g. 0.1), not {args.max_n}")
