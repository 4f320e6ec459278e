"""``dnallm scan``: a genome in, the model's output on its tiles or on BED intervals out, as a table in genome
coordinates or as bigWig / bedGraph tracks (the scanning itself is :mod:`dnallm.scan`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dnallm.commands import _load
from dnallm.errors import DnallmError
from dnallm.io.paths import check_output_file, refuse_collisions, result_outputs
from dnallm.io.skiplog import SkipLog, skip_list_path


def add_parser(sub: Any) -> None:
    """The ``scan`` subcommand's options."""
    from dnallm.cli import _engine_options, _model_options, _unscored_options, _window_options

    parser = sub.add_parser("scan", help="the model's output along a genome (tiles) or on BED intervals, in genome "
                            "coordinates: a table, or bigWig / bedGraph tracks")
    parser.add_argument("genome", help="genome FASTA, plain or bgzip (index .fai/.gzi built beside it when missing; "
                                       "plain gzip is decompressed to a temporary file)")
    _model_options(parser, fasta=False)
    parser.add_argument("-o", "--output",
                        help="output: .tsv, .csv, .jsonl, .parquet (one row per tile or interval), or .bw / .bedgraph "
                             "(one track per output, OUT.<label>.bw, unless --label or the model has one output) "
                             "(default: TSV to stdout)")
    parser.add_argument("--window", type=int, metavar="BP", help="tile the genome with windows of BP bp")
    parser.add_argument("--step", type=int, metavar="BP",
                        help="bp from one tile's start to the next (default: the window; at most the window)")
    parser.add_argument("--regions", metavar="BED",
                        help="score these intervals instead of tiles (BED3 to BED6; strand - scores the reverse "
                             "complement)")
    parser.add_argument("--chroms", metavar="NAMES", help="tile only these contigs, comma-separated (default: all)")
    parser.add_argument("--label", help="tracks: write only this output (default: one track per output)")
    parser.add_argument("--max-n", type=float, default=0.5, metavar="FRACTION",
                        help="a tile or interval with a larger share of N is not scored (default 0.5)")
    parser.add_argument("--chrom-alias", metavar="chr|FILE",
                        help="BED or --chroms contig names unlike the genome's: 'chr' adds or removes the chr prefix; "
                             "FILE: a two-column TSV, your name then the genome's")
    _window_options(parser)
    _unscored_options(parser, "a window or interval", "contig missing, past its end, mostly N", "windows and intervals")
    _engine_options(parser)
    parser.set_defaults(func=scan)


def scan(args: argparse.Namespace) -> int:
    """``dnallm scan``: rows streamed into a table, or tracks written whole."""
    from dnallm.io.genome import Genome, count_bed
    from dnallm.io.tracks import is_track, track_paths
    from dnallm.io.writers import ResultWriter
    from dnallm.scan import _chosen, check_options, scan_columns, write_tracks

    out, regions = args.output, args.regions
    check_options(args.window, args.step, regions, args.max_n, args.chroms, args.on_error)
    as_track = is_track(out)
    if args.label is not None and not as_track:
        raise DnallmError("--label chooses the output written as a track (-o .bw or .bedgraph); a table holds "
                          "every output")
    inputs = [args.genome, f"{args.genome}.fai", f"{args.genome}.gzi"] + ([regions] if regions else [])
    inputs += [args.chrom_alias] if args.chrom_alias not in (None, "chr") else []
    skipping = args.on_error == "skip"
    skip_path = skip_list_path(out, args.skipped) if skipping else None
    outputs = result_outputs(out, "skip" if skipping else "fail", args.skipped)
    refuse_collisions(outputs, inputs)
    if as_track:  # the folder now; the tracks' own names once the model's outputs are known
        check_output_file(out, "-o", inputs)
    if regions is not None:
        count_bed(regions)  # a malformed line stops here, before the model loads
    genome = Genome(args.genome, args.chrom_alias)
    writer = skip_log = None
    try:
        if regions is None:
            _chosen(genome, args.chroms)  # an unknown contig stops here
        writer = None if as_track else ResultWriter(out)
        inf = _load(args)
        columns = _columns(inf.output_columns, args.label)
        if as_track:
            paths = track_paths(out, columns)
            refuse_collisions([("-o", str(p)) for p in paths.values()] + [o for o in outputs if o[0] != "-o"], inputs)
            for path in paths.values():
                check_output_file(str(path), "-o", inputs)
        skip_log = SkipLog(skip_path)
        frames = inf.iter_scan(genome, window=args.window, step=args.step, regions=regions, chroms=args.chroms,
                               both_strands=args.both_strands, max_n=args.max_n, on_error=args.on_error,
                               on_skip=skip_log, progress=not args.quiet, by_name=as_track)
        if as_track:
            written = list(write_tracks(frames, out, list(genome.lengths.items()), columns,
                                        in_order=regions is None).values())
        else:
            writer.columns_if_empty = scan_columns(inf.output_columns, regions is not None)
            for frame in frames:
                writer.write(frame)
            writer.close()
            written = [out if out not in (None, "-") else "stdout"]
    except BaseException:
        if writer is not None:
            writer.abort()
            writer.discard()
        if skip_log is not None:
            skip_log.drop()
        raise
    finally:
        genome.close()
    skip_log.finish()
    _summary(args, inf, skip_log, written)
    return 0


def _columns(outputs: list[str], label: str | None) -> list[str]:
    if label is None:
        return outputs
    if label not in outputs:
        raise DnallmError(f"--label {label}: the model's outputs are {', '.join(outputs)}")
    return [label]


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit if n != 1 else unit[:-1]}"


def _summary(args: argparse.Namespace, inf: Any, skip_log: SkipLog, written: list) -> None:
    if args.quiet:
        return
    run = inf.last_run
    unit = "regions" if args.regions else "windows"
    rate = run.records / run.seconds if run.seconds else 0.0
    skipped = ""
    if run.skipped_inputs:
        entries = "" if len(run.skipped) == run.skipped_inputs else f" in {_count(len(run.skipped), 'entries')}"
        listed = f", listed{entries} in {skip_log.path}" if skip_log.path else ""
        skipped = f"; {run.skipped_inputs:,} not scored{listed}"
    print(f"dnallm: {_count(run.records, unit)} scored ({_count(run.windows, 'model inputs')}, "
          f"{run.padding_fraction:.0%} padding) in {run.seconds:.1f} s, {rate:,.0f} {unit}/s{skipped} -> "
          f"{', '.join(map(str, written))}", file=sys.stderr)
