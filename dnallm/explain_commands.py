"""The commands that explain a model: ``dnallm attention``, ``dnallm attribute`` and ``dnallm motifs`` (the parser
is in :mod:`dnallm.cli`; the shared steps, loading and skip lists, in :mod:`dnallm.commands`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dnallm.cli_text import in_cli_words
from dnallm.commands import _load, _skip_log, _skipped_summary
from dnallm.errors import DnallmError
from dnallm.io.fasta import read_fasta
from dnallm.io.inputs import find_record
from dnallm.io.options import InputOptions
from dnallm.io.paths import check_output_file, check_output_folder, result_outputs


# -- attention, motifs ----------------------------------------------------------------------------------------


def attention(args: argparse.Namespace) -> int:
    """``dnallm attention``: a heatmap of one record's attention and/or its per-bp track as bedGraph."""
    from dnallm.io.atomic import save_figure, write_bedgraph
    from dnallm.io.tracks import genome_position

    record = find_record(args.fasta, args.id, InputOptions(iupac=args.iupac, uracil=args.uracil))
    head, region = args.head, args.region  # as the parser read them: "mean", "all", a head or a list; (start, end)
    if args.output is None and args.track is None:
        raise DnallmError("nothing to write: give -o FIGURE (.png, .pdf, .svg) and/or --track FILE.bedgraph")
    if args.output is not None and not args.output.lower().endswith((".png", ".pdf", ".svg")):
        raise DnallmError(f"{args.output}: the figure must be .png, .pdf or .svg")
    if args.output is not None:
        check_output_file(args.output, "-o", [args.fasta])
    if args.track is not None:
        check_output_file(args.track, "--track", [args.fasta], [("-o", args.output)])
    inf = _load(args)
    if args.output is not None:
        import matplotlib

        matplotlib.use("Agg")
        fig = inf.plot_attentions(record, layer=args.layer, head=head, region=region, window=args.window)
        save_figure(fig, args.output)
        if not args.quiet:
            print(f"dnallm: attention of '{record.id}', layer {args.layer} -> {args.output}", file=sys.stderr)
    if args.track is not None:
        track = inf.attention_track(record, layer=args.layer, head=head if head != "all" else "mean",
                                    query=args.query)
        chrom, start, reverse = ((record.id, 0, False) if args.record_coordinates
                                 else genome_position(record.id, len(track)))
        values = track[::-1] if reverse else track
        if str(args.track).lower().endswith((".bw", ".bigwig")):
            from dnallm.io.bigwig import Track, write_bigwig

            write_bigwig(args.track, [Track(record.id, chrom, start, values)])
        else:
            write_bedgraph(args.track, chrom, values, f"{record.id} layer {args.layer}", start)
        if not args.quiet:
            print(f"dnallm: per-bp attention track of '{record.id}' ({len(track):,} bp) -> {args.track}",
                  file=sys.stderr)
    return 0


#: the files ``dnallm motifs -o FOLDER`` writes there (and pfm/)
MOTIF_FILES = ("motifs.tsv", "candidates.tsv", "motifs.meme", "logos.png")


def motifs(args: argparse.Namespace) -> int:
    """``dnallm motifs``: motifs from per-bp scores (TF-MoDISco or attention k-mers), enriched over a background,
    matched to JASPAR with Tomtom, into a folder; tables keep their header when nothing passes."""
    from dnallm.motif_search import AUTO_SCORES, why_empty
    from dnallm.motifs import read_jaspar

    out = Path(args.output)
    check_output_folder(out, MOTIF_FILES, [args.fasta, args.background] + ([args.jaspar] if args.jaspar else []))
    scores = AUTO_SCORES if args.scores == "auto" else args.scores
    if scores != "attention":
        _need_modisco()
    elif args.target is not None:
        raise DnallmError("--target explains a label with ism or gradient scores; --scores attention has none")
    positives = list(read_fasta(args.fasta, iupac=args.iupac, uracil=args.uracil))
    background = list(read_fasta(args.background, iupac=args.iupac, uracil=args.uracil))
    database = read_jaspar(args.jaspar) if args.jaspar else None
    inf = _load(args)
    start = time.perf_counter()
    result = inf.find_motifs(
        positives, background, scores=scores, layer=args.layer, target=args.target, progress=not args.quiet,
        k=args.k, alpha=args.alpha, max_motifs=args.max_motifs, database=database,
    )
    _write_motifs(result, out)
    if not args.quiet:
        s = result.settings
        print(f"dnallm: {len(result.motifs)} motifs ({s['discovery']} on {s['scores']} scores) from "
              f"{len(positives):,} positives vs {len(background):,} background sequences in "
              f"{time.perf_counter() - start:.0f} s -> {out}/", file=sys.stderr)
        for rank, motif in enumerate(result.motifs[:5], 1):
            match = motif.matches[0] if motif.matches else None
            best = f", best match {match.id} {match.name} (Tomtom q {match.qvalue:.1e})" if match else ""
            print(f"dnallm:   {rank}. {motif.consensus} ({len(motif.instances)} sites, q {motif.qvalue:.1e}){best}",
                  file=sys.stderr)
        if not result.motifs:
            print(f"dnallm: {why_empty(result)}", file=sys.stderr)
    return 0


def _need_modisco() -> None:
    """TF-MoDISco's package checked before the model loads (ism and gradient scores go into it)."""
    import importlib.util

    from dnallm.modisco import INSTALL

    try:
        found = importlib.util.find_spec("modiscolite") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        found = False
    if not found:
        raise DnallmError(f"--scores ism and gradient scores go into TF-MoDISco, which is not installed: {INSTALL} "
                          "(or --scores attention)")


def _write_motifs(result, out: Path) -> None:
    from dnallm.motifs import plot_logos, write_meme, write_pfms

    out.mkdir(parents=True, exist_ok=True)
    result.table().to_csv(out / "motifs.tsv", sep="\t", index=False)
    result.candidates.to_csv(out / "candidates.tsv", sep="\t", index=False)
    write_meme(result.motifs, out / "motifs.meme")
    write_pfms(result.motifs, out / "pfm")
    if result.motifs:
        import matplotlib

        matplotlib.use("Agg")
        plot_logos(result.motifs, out / "logos.png")


def attribute(args: argparse.Namespace) -> int:
    """``dnallm attribute``: per-bp attribution scores of every record into -o (.npz, .bedgraph or .bw, written
    whole), and/or a figure of one record (--figure: a logo of its scores, the ISM deltas beneath)."""
    record = _check_attribute_outputs(args)
    skip_log = _skip_log(args)
    try:
        inf = _load(args)
        start = time.perf_counter()  # the runner's last_run times ISM only; gradients and attention run beside it
        result = inf.attribute(args.fasta if args.output else [record], method=args.method, target=args.target,
                               layer=args.layer, progress=not args.quiet, iupac=args.iupac, uracil=args.uracil,
                               on_error=args.on_error, on_skip=in_cli_words(skip_log))
        seconds = time.perf_counter() - start
        fig = None if record is None else _attribution_figure(record, result, args.region)
        if args.output:
            result.write(args.output, genome_coordinates=not args.record_coordinates)
        if fig is not None:
            from dnallm.io.atomic import save_figure

            save_figure(fig, args.figure)
    except BaseException:
        skip_log.drop()
        raise
    skip_log.finish()
    if not args.quiet:
        written = " and ".join(str(p) for p in (args.output, args.figure) if p)
        print(f"dnallm: {args.method} scores of {len(result.ids):,} records ({int(result.lengths.sum()):,} bp), target "
              f"{result.target}, in {seconds:.1f} s -> {written}", file=sys.stderr)
    _skipped_summary(args, skip_log)
    return 0


def _check_attribute_outputs(args: argparse.Namespace):
    """-o and --figure checked before anything runs; the record --figure draws (None without --figure)."""
    if args.output is None and args.figure is None:
        raise DnallmError("nothing to write: give -o OUT (.npz, .bedgraph or .bw) and/or --figure FIG (.png, .pdf, "
                          ".svg)")
    if args.output is not None and not str(args.output).lower().endswith((".npz", ".bedgraph", ".bg", ".bw",
                                                                          ".bigwig")):
        raise DnallmError(f"-o {args.output}: attribution output must be .npz (scores, ISM deltas), .bedgraph or .bw")
    others = result_outputs(args.output, args.on_error, args.skipped)
    if args.output is not None:
        check_output_file(args.output, "-o", [args.fasta], others[1:])
    if args.figure is None:
        if args.id is not None or args.region is not None:
            raise DnallmError("--id and --region choose what --figure draws; give --figure FIG.png as well")
        return None
    if not str(args.figure).lower().endswith((".png", ".pdf", ".svg")):
        raise DnallmError(f"--figure {args.figure}: the figure must be .png, .pdf or .svg")
    check_output_file(args.figure, "--figure", [args.fasta], others)
    from dnallm.plotting import logomaker_module

    logomaker_module()  # missing: say so before the model runs
    options = InputOptions(iupac=args.iupac, uracil=args.uracil)
    if args.id is not None:
        record = find_record(args.fasta, args.id, options)
    else:
        records = read_fasta(args.fasta, options=options)
        record = next(records, None)
        if record is None:
            raise DnallmError(f"{args.fasta}: no records, so --figure has nothing to draw")
        if next(records, None) is not None and not args.quiet:
            print(f"dnallm: --figure draws the first record, '{record.id}' (choose another with --id)",
                  file=sys.stderr)
    if args.region is not None and not 0 <= args.region[0] < args.region[1] <= len(record):
        raise DnallmError(f"--region {args.region[0]}-{args.region[1]}: not inside record '{record.id}' "
                          f"(0-{len(record)} bp); give START-END with 0 <= START < END <= {len(record)}")
    return record


def _attribution_figure(record, result, region):
    import matplotlib

    matplotlib.use("Agg")
    from dnallm.plotting import plot_attribution

    if record.id not in result.ids:
        raise DnallmError(f"record '{record.id}' was skipped, so --figure has nothing to draw; choose another "
                          "with --id")
    return plot_attribution(record, result, record.id, region)
