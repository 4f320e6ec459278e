"""The ``dnallm`` command: argument handling only; :mod:`dnallm.commands` does the work of each command.

User errors print one line, ``dnallm: error: ...``, and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from collections.abc import Sequence

from dnallm import __version__, commands, explain_commands, scan_commands, variant_commands
from dnallm.attribution import METHODS as ATTRIBUTION_METHODS
from dnallm.cli_text import CliFormatter, cli_words
from dnallm.errors import DnallmError
from dnallm.heads import POOLINGS
from dnallm.io.formats import FORMATS
from dnallm.io.options import ERROR_POLICIES, IUPAC_POLICIES, URACIL_POLICIES
from dnallm.motif_search import AUTO_SCORES, SCORES
from dnallm.registry import DEFAULT_MODEL, TOKENIZER_FAMILIES

__all__ = ["build_parser", "cli_words", "main"]

ATTENTION_CHOICES = ("auto", "flash_attention_2", "sdpa", "eager")  # "auto" + dnallm.modeling.ATTENTION_BACKENDS
QUERIES = ("auto", "cls", "mean")
_LOG_FORMAT = "dnallm: %(levelname)s: %(message)s"


# -- option groups --------------------------------------------------------------------------------------------


def _input_options(parser: argparse.ArgumentParser, quiet: str) -> None:
    """--iupac, --uracil and -q (``quiet``: what -q silences), for every command that reads FASTA."""
    parser.add_argument("--iupac", choices=IUPAC_POLICIES, default=IUPAC_POLICIES[0],
                        help="IUPAC ambiguity codes: replace by N (default) or reject")
    parser.add_argument("--uracil", choices=URACIL_POLICIES, default=URACIL_POLICIES[0],
                        help="U: read as T (default) or reject")
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet)


def _model_options(parser: argparse.ArgumentParser, several: bool = False, fasta: bool = True) -> None:
    if several:
        parser.add_argument("fasta", nargs="+", help="FASTA files, plain or gzip (records in order, file by file)")
    elif fasta:
        parser.add_argument("fasta", help="FASTA file, plain or gzip")
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help="model directory, models.yaml name (see `dnallm models`) or Hugging Face hub id "
                             f"(default: {DEFAULT_MODEL}, the embedded demo model, offline)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", default="auto", help="auto (default: float32 on CPU), float32, bfloat16, float16")
    parser.add_argument("--attn", default="auto", choices=ATTENTION_CHOICES,
                        help="attention backend (default: the fastest the model, device and dtype allow)")
    parser.add_argument("--max-batch-tokens", type=int, default=None,
                        help="tokens per forward pass, padding included (default 4096 on CPU, 16384 on a GPU)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models that run Python code from their repository (read it first)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load weights stored only as a pickle (pytorch_model.bin); unpickling can run code "
                             "hidden in the file, so only for files you trust (default: safetensors only)")
    parser.add_argument("--revision", help="hub branch, tag or commit")
    if fasta:
        _input_options(parser, "no progress bar and no summary on stderr")
    else:
        parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary on stderr")


def _run_options(parser: argparse.ArgumentParser, resume: bool = True) -> None:
    parser.add_argument("--on-error", choices=ERROR_POLICIES, default=ERROR_POLICIES[0],
                        help="a bad record (bad character, no sequence, repeated id, too short): stop with an error "
                             "(default) or leave it out, list it in --skipped and go on")
    parser.add_argument("--skipped", metavar="FILE",
                        help="TSV of the records left out by --on-error skip (default: OUTPUT.skipped.tsv; "
                             "on stderr when the output is stdout)")
    if resume:
        parser.add_argument("--resume", action="store_true",
                            help="continue an interrupted run from OUTPUT.partial: only the records not done yet run")


def _window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--both-strands", action="store_true",
                        help="each window's output is the mean of the window's and its reverse complement's "
                             "(coordinates stay on the forward strand); twice the compute")
    parser.add_argument("--overlap", metavar="TOKENS",
                        help="tokens shared by consecutive windows of records longer than the model (default a "
                             "tenth of a window; for k-mer (DNABERT) and single-nucleotide models one token per bp)")


def _engine_options(parser: argparse.ArgumentParser) -> None:
    """--engine and Ray's knobs, for the commands that scale out (predict, embed, scan, variants)."""
    group = parser.add_argument_group("scale-out (docs/scale-out.md)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this process (default); ray: a pool of Ray workers, one model copy each, in "
                            "this process's Ray or on the cluster of --ray-address / RAY_ADDRESS (pip install "
                            "'dnallm[ray]')")
    group.add_argument("--ray-address", metavar="ADDRESS",
                       help="a running Ray cluster (HOST:6379, auto, ray://HOST:10001) (default: RAY_ADDRESS, else "
                            "Ray starts in this process)")
    group.add_argument("--workers", type=int, metavar="N",
                       help="model copies (default: one per GPU of the cluster, else its CPUs / --cpus-per-worker)")
    group.add_argument("--cpus-per-worker", type=float, metavar="N",
                       help="CPUs (torch threads) per worker (default 1 with GPUs, else 4 or the cluster's CPUs)")
    group.add_argument("--gpus-per-worker", type=float, metavar="N",
                       help="GPUs per worker (default 1 on a cluster with GPUs, else 0; 0.5 puts two on a GPU)")
    group.add_argument("--block-records", type=int, metavar="N",
                       help="records (tiles, intervals) per block sent to a worker (default 2048, or fewer to keep "
                            "a block near 262,144 bp; VCF records: 512)")


def _check_engine(args: argparse.Namespace) -> None:
    """Ray's knobs without --engine ray would do nothing: say so."""
    if args.engine == "ray":
        return
    given = [flag for flag, value in (("--ray-address", args.ray_address), ("--workers", args.workers),
                                      ("--cpus-per-worker", args.cpus_per_worker),
                                      ("--gpus-per-worker", args.gpus_per_worker),
                                      ("--block-records", args.block_records)) if value is not None]
    if given:
        raise DnallmError(f"{', '.join(given)}: {'these need' if len(given) > 1 else 'this needs'} --engine ray")


def _coordinates_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--record-coordinates", action="store_true",
                        help="tracks: place every record on a chromosome named by its id, from 0, even when the id "
                             "is chrom:start-end (default: such records go to those genome coordinates)")


def _unscored_options(parser: argparse.ArgumentParser, one: str, examples: str, many: str) -> None:
    """--on-error skip|raise and --skipped, for commands that score what they can and list the rest."""
    parser.add_argument("--on-error", choices=("skip", "raise"), default="skip",
                        help=f"{one} that cannot be scored ({examples}): list it in --skipped and go on (default), "
                             "or stop with an error")
    parser.add_argument("--skipped", metavar="FILE",
                        help=f"TSV of the {many} not scored, with the reason (default: OUTPUT.skipped.tsv; on stderr "
                             "when the output is stdout)")


def _verbose_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log progress details to stderr")


def _table_formats() -> str:
    """The result formats, as help texts name them (``.tsv, .txt, .csv, .jsonl, .parquet``)."""
    return ", ".join(FORMATS)


# -- the parser -----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dnallm", description="Inference with genomic DNA language models.")
    parser.add_argument("--version", action="version", version=f"dnallm {__version__}")
    _verbose_option(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = sub.add_parser("models", help="list the DNA language models dnallm knows by name")
    models.add_argument("--family", choices=TOKENIZER_FAMILIES, help="only models of this tokenizer family")
    models.add_argument("--tsv", action="store_true", help="tab-separated output for other programs")
    models.set_defaults(func=commands.models)

    validate = sub.add_parser(
        "validate", help="check FASTA files against dnallm's input rules and count records and bases"
    )
    validate.add_argument("fasta", nargs="+", help="FASTA files, plain or gzip")
    _input_options(validate, "no progress bar")
    validate.set_defaults(func=commands.validate)

    predict = sub.add_parser("predict", help="one result row per FASTA record")
    _model_options(predict, several=True)
    predict.add_argument("-o", "--output",
                         help=f"output file: {_table_formats()}, text formats also .gz (default: TSV to stdout)")
    predict.add_argument("--per-window", action="store_true",
                         help="one row per window of long records, with its bp start and end")
    _window_options(predict)
    _run_options(predict)
    _engine_options(predict)
    predict.set_defaults(func=commands.predict)

    embed = sub.add_parser("embed", help="one embedding per FASTA record")
    _model_options(embed, several=True)
    embed.add_argument("-o", "--output", required=True,
                       help=f"output file: .npz (ids, embeddings), {_table_formats()}")
    embed.add_argument("--pooling", choices=POOLINGS, default=POOLINGS[0],
                       help="mean over sequence tokens (default), the [CLS] token, or the element-wise maximum "
                       "over sequence tokens")
    _window_options(embed)
    _run_options(embed)
    _engine_options(embed)
    embed.set_defaults(func=commands.embed)

    _attention_parser(sub)
    _motifs_parser(sub)
    _attribute_parser(sub)
    _variants_parser(sub)
    scan_commands.add_parser(sub)
    for command in sub.choices.values():  # -v after the command too (dnallm predict x.fa -v)
        _verbose_option(command, argparse.SUPPRESS)
    return parser


def _attention_parser(sub) -> None:
    attention = sub.add_parser("attention", help="attention heatmap over bp of one record, and a per-bp track")
    _model_options(attention)
    attention.add_argument("--id", help="record id (needed when the file holds several records)")
    attention.add_argument("--layer", type=int, default=-1, help="layer, negative from the end (default -1)")
    attention.add_argument("--head", default="mean", help="mean (default), a head number, or a list such as 0,1,2")
    attention.add_argument("--region", help="START-END in record bp (0-based, end excluded) to zoom into")
    attention.add_argument("--window", type=int, help="which window of a record longer than the model (default 0)")
    attention.add_argument("--query", choices=QUERIES, default=QUERIES[0],
                           help="track: attention from the first special token (cls) or mean over queries")
    attention.add_argument("-o", "--output", help="figure: .png, .pdf or .svg")
    attention.add_argument("--track", help="per-bp attention received over the whole record: .bedgraph, or .bw "
                           "(bigWig, pip install 'dnallm[bigwig]'); an id chrom:start-end[(+/-)] is placed there on "
                           "the genome")
    _coordinates_option(attention)
    attention.set_defaults(func=explain_commands.attention)


def _motifs_parser(sub) -> None:
    motifs = sub.add_parser("motifs", help="motifs from per-bp scores (TF-MoDISco or k-mer enrichment), matched "
                            "to JASPAR with Tomtom")
    _model_options(motifs)
    motifs.add_argument("--background", required=True, help="FASTA of background (negative) sequences")
    motifs.add_argument("-o", "--output", required=True,
                        help="folder: motifs.tsv, candidates.tsv, motifs.meme, pfm/, logos.png")
    motifs.add_argument("--scores", choices=SCORES, default="auto",
                        help="per-bp scores: ism, integrated_gradients, gradient_x_input (into TF-MoDISco) or "
                             f"attention (into k-mer enrichment); auto (default): {AUTO_SCORES}, all layers")
    motifs.add_argument("--target", help="ism and gradients: the label whose log-odds is explained (default: the "
                        "last label)")
    motifs.add_argument("--layer", default="all",
                        help="--scores attention: all (default: the mean over all layers) or a layer, negative from "
                             "the end")
    motifs.add_argument("-k", "--k", type=int, default=8, help="attention: candidate k-mer length (default 8)")
    motifs.add_argument("--alpha", type=float, default=0.05, help="Benjamini-Hochberg q-value cut-off (0.05)")
    motifs.add_argument("--max-motifs", type=int, default=10, help="most motifs reported (default 10)")
    motifs.add_argument("--jaspar", help="motif database to match (default: JASPAR 2022 CORE vertebrates)")
    motifs.set_defaults(func=explain_commands.motifs)


def _attribute_parser(sub) -> None:
    attribute = sub.add_parser("attribute", help="per-bp attribution scores: ISM, integrated gradients, "
                               "gradient x input or attention")
    _model_options(attribute)
    attribute.add_argument("--method", choices=ATTRIBUTION_METHODS, default=ATTRIBUTION_METHODS[0],
                           help="in-silico mutagenesis (default), gradients on the input embeddings, or attention")
    attribute.add_argument("--target", help="the label whose log-odds is explained (default: the last label)")
    attribute.add_argument("--layer", default="-1",
                           help="--method attention: a layer, negative from the end (default -1), or all (the mean)")
    attribute.add_argument("-o", "--output",
                           help="output: .npz (ids, offsets, scores, ism), .bedgraph or .bw (per-bp scores; "
                                "chrom:start-end[(+/-)] ids placed there on the genome)")
    _coordinates_option(attribute)
    attribute.add_argument("--figure", metavar="FIG",
                           help="figure of one record (.png, .pdf, .svg): a logo of its scores, ISM deltas beneath")
    attribute.add_argument("--id", help="--figure: the record to draw (default the first)")
    attribute.add_argument("--region", help="--figure: START-END in record bp (0-based, end excluded) to zoom into")
    _run_options(attribute, resume=False)
    attribute.set_defaults(func=explain_commands.attribute)


def _variants_parser(sub) -> None:
    variants = sub.add_parser("variants", help="variant effects: a VCF and its reference genome in, scores per "
                              "(site, ALT) out (alt - ref deltas; masked-LM log-likelihood ratio)")
    variants.add_argument("vcf", help="VCF: .vcf, .vcf.gz (bgzip or gzip) or .bcf")
    variants.add_argument("--genome", required=True,
                          help="reference FASTA, plain or bgzip (index .fai/.gzi built beside it when missing; "
                               "plain gzip is decompressed to a temporary file)")
    _model_options(variants, fasta=False)
    variants.add_argument("-o", "--output",
                          help=f"output: {_table_formats()} (text also .gz), or .vcf / .vcf.gz (the input's records "
                               "with INFO per score) (default: TSV to stdout)")
    variants.add_argument("--window", type=int, metavar="BP",
                          help="window in bp centred on the variant (default: the model's input length)")
    variants.add_argument("--target", help="classifiers: the label of log_odds_ratio_* (default: the last label)")
    variants.add_argument("--both-strands", action="store_true",
                          help="average each score over the window and its reverse complement; twice the compute")
    variants.add_argument("--max-n", type=float, default=0.1, metavar="FRACTION",
                          help="a window with a larger share of N is not scored (default 0.1)")
    variants.add_argument("--chrom-alias", metavar="chr|FILE",
                          help="VCF contig names unlike the genome's: 'chr' adds or removes the chr prefix (chrM/MT "
                               "too); FILE: a two-column TSV, VCF name then genome name")
    _unscored_options(variants, "a variant", "REF unlike the genome, unknown contig, symbolic ALT, ...", "variants")
    _engine_options(variants)
    variants.set_defaults(func=variant_commands.variants)


# -- values argparse does not check -----------------------------------------------------------------------------


def _read_values(args: argparse.Namespace) -> None:
    """--overlap, --head and --region read into numbers, before the command runs (a bad one: DnallmError)."""
    if hasattr(args, "overlap"):
        args.overlap = overlap_value(args.overlap)
    if hasattr(args, "engine"):
        _check_engine(args)
    if args.command == "attention":
        args.head = _parse_heads(args.head)
        args.region = _parse_region(args.region)
    if args.command == "motifs":
        args.layer = _parse_layer(args.layer)
    if args.command == "attribute":
        args.layer = _parse_layer(args.layer)
        args.region = _parse_region(args.region)
    if args.command == "variants":
        variant_commands.check_arguments(args)


def overlap_value(text: str | int | None) -> int | None:
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


def _parse_layer(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise DnallmError(f"--layer takes a layer number (negative from the end) or 'all', not {text!r}") from None


def _parse_heads(text: str) -> str | int | list[int]:
    if text in ("mean", "all"):
        return text
    try:
        heads = [int(part) for part in text.split(",")]
    except ValueError:
        raise DnallmError(f"--head takes 'mean', a head number or a comma-separated list, not {text!r}") from None
    return heads[0] if len(heads) == 1 else heads


def _parse_region(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        start, end = (int(part.replace(",", "")) for part in text.split("-"))
    except ValueError:
        raise DnallmError(
            f"--region takes START-END in 0-based bp, end excluded (e.g. 1200-1400), not {text!r}"
        ) from None
    return start, end


# -- running a command ----------------------------------------------------------------------------------------


def _full_message(exc: OSError) -> str:
    """A full disk outside the result writer: standard output or the file the error names."""
    if exc.filename is None:
        return ("standard output: no space left on device (the disk or device that standard output goes to is "
                "full); free space there, or write to a file with -o FILE")
    return f"{exc.filename}: no space left on device; free space on that disk, or write elsewhere"


def _drop_stdout() -> None:
    """After standard output failed (a full disk), send what is still buffered for it to /dev/null, so that the
    interpreter's flush at exit does not print a second error."""
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


def _configure_logging(verbose: bool) -> None:
    """Log to stderr (INFO with -v, else WARNING), with the CLI's flag names in place of Python arguments."""
    before = set(logging.getLogger().handlers)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format=_LOG_FORMAT, stream=sys.stderr)
    for handler in set(logging.getLogger().handlers) - before:
        handler.setFormatter(CliFormatter(_LOG_FORMAT))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)

    def terminated(signum, frame):  # a batch system's SIGTERM: stop like Ctrl-C, keeping the partial output
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        _read_values(args)
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
