"""Genome and interval scanning (``dnallm scan``, :meth:`dnallm.DNAInference.scan`): the model's output on tiles
of a genome or on BED intervals, in genome coordinates (0-based, half-open).

Tiles (``window=W``, ``step=S``, default ``S = W``): windows of W bp starting at 0, S, 2S, ... on each contig
(all of them, or ``chroms``, in the genome's order); the last window of a contig is moved to end at the contig's
end, so that every base is covered (it overlaps the one before it by more than ``W - S`` bp). A contig shorter
than W is one window of its whole length. A window with more than ``max_n`` (default 0.5) of its bases ``N`` is
not scored: runs of such windows are counted and listed, one entry per run, in the skipped list.

Regions (``regions=BED``): each interval is one record, named by the BED name column or ``chrom:start-end``
(``chrom:start-end(+)``/``(-)`` when the line gives a strand, as ``bedtools getfasta -s`` names them). Strand
``-`` scores the reverse complement of the interval's bases. Intervals on a contig the genome lacks, past a
contig's end, empty, or more than ``max_n`` N are not scored and listed with their reason; a malformed line stops
the run with ``file:line`` before anything runs.

Each tile or interval is one record of the shared runner: its output is what ``dnallm predict`` gives for the
same bases as a FASTA record (a record longer than the model's input: its windows combined by the head's rule),
and ``both_strands=True`` the mean of the bases' and their reverse complement's outputs. Tiles are read from the
genome as they are needed (pyfaidx), so memory does not grow with the genome.

Tracks (:func:`write_tracks`): one bedGraph or bigWig per output column, the value of each base the mean of the
tiles or intervals covering it (:mod:`dnallm.io.tracks`), chromosomes in the order of their names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnallm import heads
from dnallm.errors import DnallmError, OptionError
from dnallm.io.genome import ContigError, Genome, Interval, count_bed, read_bed
from dnallm.io.options import InputOptions, Skipped
from dnallm.io.records import Record
from dnallm.jaspar import reverse_complement

logger = logging.getLogger(__name__)

#: the largest share of N bases in a tile or interval that is still scored
MAX_N = 0.5
ON_ERROR = ("skip", "raise")
TILE_KEYS = ["chrom", "start", "end"]
REGION_KEYS = ["chrom", "start", "end", "name", "strand"]


@dataclass(frozen=True, slots=True)
class Piece(Record):
    """A tile or interval as a record: ``seq`` is the bases scored (reverse-complemented for strand ``-``)."""

    chrom: str = ""
    start: int = 0
    end: int = 0
    strand: str = "."


def tile_starts(length: int, window: int, step: int) -> np.ndarray:
    """The starts (int64, bp) of the tiles of a contig of ``length`` bp: every ``step`` from 0 while a whole
    window fits, then one more ending at the contig's end if the last did not; ``[0]`` for a contig shorter than
    ``window`` (one tile of its whole length)."""
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, step, dtype=np.int64)
    if starts[-1] + window < length:
        starts = np.append(starts, length - window)
    return starts


def check_options(window: int | None, step: int | None, regions: Any, max_n: float, chroms: Any,
                  on_error: str) -> None:
    """Refuse option values that cannot make a scan, before anything is read."""
    if on_error not in ON_ERROR:
        raise OptionError(f"on_error must be {' or '.join(repr(p) for p in ON_ERROR)}, not {on_error!r}")
    if not 0 <= max_n <= 1:
        raise OptionError(f"max_n is a fraction of the window, from 0 to 1, not {max_n}")
    if (window is None) == (regions is None):
        raise OptionError("give either a window in bp to tile the genome (--window W [--step S]) or a BED of "
                          "regions (--regions FILE.bed), not " + ("both" if regions is not None else "neither"))
    if regions is not None:
        if step is not None or chroms is not None:
            raise OptionError("--step and --chroms are for tiling (--window); with --regions, the BED says what "
                              "is scored (keep the lines you want, e.g. awk '$1 == \"chr1\"')")
        return
    for name, value in (("window", window), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise OptionError(f"the {name} is a whole number of bp, not {value!r}")
    if window < 1:
        raise OptionError(f"the window is a length in bp, at least 1, not {window}")
    if step is not None and not 1 <= step <= window:
        raise OptionError(f"the step must be from 1 to the window ({window:,} bp), not {step}: a longer step "
                          "would leave bases between the windows unscored")


def _chosen(genome: Genome, chroms: Sequence[str] | str | None, by_name: bool = False) -> list[str]:
    """The contigs to tile, in the genome's order (``by_name``: sorted by name, the order of tracks)."""
    if chroms is None:
        contigs = list(genome.lengths)
    else:
        names = [c.strip() for c in chroms.split(",") if c.strip()] if isinstance(chroms, str) else list(chroms)
        if not names:
            raise OptionError("--chroms names no contig: give them comma-separated, e.g. chr1,chr2")
        wanted = {genome.contig(name) for name in names}  # ContigError names the one missing
        contigs = [c for c in genome.lengths if c in wanted]
    return sorted(contigs) if by_name else contigs


def _mostly_n(seq: str, max_n: float) -> bool:
    return seq.count("N") > max_n * len(seq)


def plan_tiles(genome: Genome, contigs: Sequence[str], window: int, step: int, max_n: float,
               strict: bool = False) -> Iterator[Piece | Skipped]:
    """The tiles of ``contigs`` as records, in order, with one :class:`Skipped` per run of mostly-N tiles."""
    where = str(genome.path)
    for contig in contigs:
        length = genome.lengths[contig]
        run: list[int] = []  # the starts of the mostly-N tiles in a row
        for start in tile_starts(length, window, step).tolist():
            end = min(start + window, length)
            seq = genome.fetch(contig, start, end)
            if _mostly_n(seq, max_n):
                if strict:
                    raise DnallmError(f"{where}: the window {contig}:{start}-{end} is more than {max_n:.0%} N")
                run.append(start)
                continue
            if run:
                yield _n_run(contig, run, window, length, max_n, where)
                run = []
            yield Piece(f"{contig}:{start}-{end}", seq, origin=f"{where}:{contig}", chrom=contig, start=start, end=end)
        if run:
            yield _n_run(contig, run, window, length, max_n, where)


def _n_run(contig: str, starts: list[int], window: int, length: int, max_n: float, where: str) -> Skipped:
    first, last = starts[0], min(starts[-1] + window, length)
    count = len(starts)
    return Skipped(f"{contig}:{first}-{last}", f"{where}:{contig}",
                   f"{count:,} window{'s' if count > 1 else ''} more than {max_n:.0%} N, not scored", count)


def plan_regions(genome: Genome, bed: str | Path, max_n: float, strict: bool = False) -> Iterator[Piece | Skipped]:
    """The intervals of ``bed`` as records, in file order; those that cannot be scored as :class:`Skipped`."""
    for interval in read_bed(bed):
        piece = _region(genome, interval, max_n)
        if isinstance(piece, Skipped) and strict:
            raise DnallmError(f"{piece.where} ({piece.id}): {piece.reason}")
        yield piece


def _region(genome: Genome, iv: Interval, max_n: float) -> Piece | Skipped:
    label = iv.label
    try:
        contig = genome.contig(iv.chrom)
    except ContigError as exc:
        return Skipped(label, iv.where, str(exc))
    length = genome.lengths[contig]
    if iv.end > length:
        return Skipped(label, iv.where, f"the interval ends at {iv.end:,}, beyond the end of contig '{contig}' "
                                        f"({length:,} bp)")
    if iv.end == iv.start:
        return Skipped(label, iv.where, "an empty interval (its start and end are equal)")
    seq = genome.fetch(contig, iv.start, iv.end)
    if _mostly_n(seq, max_n):
        return Skipped(label, iv.where, f"more than {max_n:.0%} of its {len(seq):,} bases are N")
    if iv.strand == "-":
        seq = reverse_complement(seq)
    return Piece(label, seq, origin=iv.where, chrom=contig, start=iv.start, end=iv.end, strand=iv.strand)


def check_window_length(tokenizer: Any, window: int) -> None:
    """A window must hold one token of the model."""
    shortest = tokenizer.k or 1 if tokenizer.family == "overlapping_kmer" else 1
    if window < shortest:
        raise OptionError(f"the window must be at least {shortest} bp for this model ({tokenizer.family} tokens, "
                          f"k={tokenizer.k}), not {window}")


def scan_columns(output_columns: Sequence[str], regions: bool) -> list[str]:
    """The columns of a scan's rows: the coordinates (and ``name``, ``strand`` for regions), then the outputs."""
    return (REGION_KEYS if regions else TILE_KEYS) + list(output_columns)


def _frame(pieces: Sequence[Piece], columns: Sequence[str], values: np.ndarray, regions: bool) -> pd.DataFrame:
    data: dict[str, Any] = {
        "chrom": [p.chrom for p in pieces],
        "start": np.array([p.start for p in pieces], dtype=np.int64),
        "end": np.array([p.end for p in pieces], dtype=np.int64),
    }
    if regions:
        data["name"] = [p.id for p in pieces]
        data["strand"] = [p.strand for p in pieces]
    out = pd.DataFrame(data)
    for i, column in enumerate(columns):
        out[column] = values[:, i].astype(np.float32)
    return out


def empty_scan(columns: Sequence[str], regions: bool) -> pd.DataFrame:
    """The rows of a scan that scored nothing, with the columns and dtypes of one that did."""
    out = _frame([], columns, np.zeros((0, len(columns)), np.float32), regions)
    return out.astype({c: object for c in ("chrom", "name", "strand") if c in out})


def iter_scan(runner: Any, loaded: Any, genome: str | Path | Genome, *, window: int | None = None,
              step: int | None = None, regions: str | Path | None = None, chroms: Sequence[str] | str | None = None,
              both_strands: bool = False, max_n: float = MAX_N, chrom_alias: Any = None, on_error: str = "skip",
              on_skip: Any = None, progress: bool = False, model_name: str = "the model",
              by_name: bool = False) -> Iterator[pd.DataFrame]:
    """DataFrames of consecutive tiles (or BED intervals, in file order): ``chrom start end`` (and ``name
    strand``), then one float32 column per model output (as ``predict``). See the module docstring; statistics
    in ``runner.last_run`` (``records``: tiles or intervals scored; ``skipped_inputs``: those not).
    ``by_name``: tile the contigs in the order of their names (the order :func:`write_tracks` writes)."""
    check_options(window, step, regions, max_n, chroms, on_error)
    heads.prediction_head(loaded.head, model_name)  # a model without one stops here
    if window is not None:
        check_window_length(runner.tokenizer, window)
    opened = not isinstance(genome, Genome)
    genome = Genome(genome, chrom_alias) if opened else genome
    try:
        pieces, total = plan_scan(genome, window=window, step=step, regions=regions, chroms=chroms, max_n=max_n,
                                  on_error=on_error, by_name=by_name)
        started = time.perf_counter()
        yield from score_pieces(runner, loaded, pieces, regions=regions is not None, on_error=on_error,
                                on_skip=on_skip, both_strands=both_strands, progress=progress, total=total,
                                model_name=model_name)
        logger.info("scan: %d scored, %d not, in %.1f s", runner.last_run.records, runner.last_run.skipped_inputs,
                    time.perf_counter() - started)
    finally:
        if opened:
            genome.close()


def plan_scan(genome: Genome, *, window: int | None, step: int | None, regions: str | Path | None,
              chroms: Sequence[str] | str | None, max_n: float, on_error: str,
              by_name: bool = False) -> tuple[Iterator[Piece | Skipped], int]:
    """The tiles or intervals of a scan, streamed (:class:`Piece` s, and :class:`Skipped` entries for what is not
    scored), and how many there are (every BED line is checked here, before anything runs)."""
    strict = on_error == "raise"
    if regions is None:
        contigs = _chosen(genome, chroms, by_name)
        step = window if step is None else step
        total = sum(len(tile_starts(genome.lengths[c], window, step)) for c in contigs)
        return plan_tiles(genome, contigs, window, step, max_n, strict), total
    total = count_bed(regions)
    return plan_regions(genome, regions, max_n, strict), total


def score_pieces(runner: Any, loaded: Any, pieces: Iterable[Piece | Skipped], *, regions: bool, on_error: str,
                 on_skip: Any = None, both_strands: bool = False, progress: bool = False, total: int | None = None,
                 model_name: str = "the model") -> Iterator[pd.DataFrame]:
    """The rows of planned tiles or intervals (:func:`plan_scan`), through the shared runner."""
    head = heads.prediction_head(loaded.head, model_name)
    columns = heads.HEADS[loaded.head].columns(loaded.model.config)
    options = InputOptions(on_error="fail" if on_error == "raise" else "skip", on_skip=on_skip)
    for chunk in runner.run(pieces, head, options, both_strands=both_strands, progress=progress, checked=True,
                            total=total, unit="regions" if regions else "windows"):
        yield _frame(chunk.records, columns, chunk.per_record(head), regions)


# -- tracks ----------------------------------------------------------------------------------------------------


def write_tracks(frames: Iterable[pd.DataFrame], path: str | Path, sizes: Sequence[tuple[str, int]],
                 columns: Sequence[str], in_order: bool = False, description: str = "dnallm scan") -> dict[str, Path]:
    """Scan rows as per-bp tracks, one file per column of ``columns`` (:func:`dnallm.io.tracks.track_paths`):
    the value of a base is the mean of the rows covering it. ``sizes``: ``(chrom, length)`` of every contig of
    the genome; tracks hold the chromosomes in the order of their names (as ``sort -k1,1`` with
    ``LC_COLLATE=C`` and genome browsers' bigWig readers want them). Rows may come in any order: they are
    gathered and sorted first; ``in_order=True`` says they come in that order, starts ascending (tiles scanned
    with ``by_name=True``, as the CLI does), and streams them to the files as they come. Every file is written
    whole or not at all. Returns the files.

    Raises:
        DnallmError: a row on a chromosome ``sizes`` lacks or past its end, rows out of order (``in_order``),
            no row at all for a bigWig.
    """
    from dnallm.io.tracks import CoveringMean, TrackFile, track_paths

    paths = track_paths(path, columns)
    sizes = sorted((str(c), int(n)) for c, n in sizes)
    length = dict(sizes)
    files: list[TrackFile] = []
    try:
        for column, target in paths.items():
            files.append(TrackFile(target, sizes, f"{description} {column}", f"{description}: {column}, mean of "
                                   "the windows covering each base"))
        rows = frames if in_order else _sorted(list(frames), [c for c, _ in sizes])
        sweep, chrom, done = CoveringMean(), None, set()
        for frame in rows:
            values = frame[list(columns)].to_numpy(np.float64)
            for c, start, end, row in zip(frame["chrom"].tolist(), frame["start"].tolist(), frame["end"].tolist(),
                                          values):
                if c != chrom:
                    _emit(files, chrom, sweep.close())
                    if c not in length:
                        raise DnallmError(f"{path}: chromosome '{c}' of the rows is not among the genome's contigs")
                    if c in done or (chrom is not None and c < chrom):
                        raise DnallmError(f"{path}: the rows of '{c}' do not come in the order of the chromosomes' "
                                          "names; sort them by chromosome and start (or in_order=False)")
                    done.add(c)
                    sweep, chrom = CoveringMean(), c
                if end > length[c]:
                    raise DnallmError(f"{path}: a row ends at {end:,}, past the end of '{c}' ({length[c]:,} bp)")
                _emit(files, c, sweep.add(start, end, row))
        _emit(files, chrom, sweep.close())
        for f in files:
            f.finish()
    except BaseException:
        for f in files:
            f.abort()
        raise
    for f in files:  # each file complete: all go to their names
        f.commit()
    return paths


def _emit(files: Sequence[Any], chrom: str | None, runs: Iterable[tuple[int, int, np.ndarray]]) -> None:
    for start, end, mean in runs:
        for f, value in zip(files, mean):
            f.add(chrom, start, end, value)


def _sorted(frames: list[pd.DataFrame], order: list[str]) -> list[pd.DataFrame]:
    """All rows as one frame sorted by chromosome (in ``order``), start and end (none for no rows)."""
    if not frames:
        return []
    rows = pd.concat(frames, ignore_index=True)
    rank = {c: i for i, c in enumerate(order)}
    key = rows["chrom"].map(rank).to_numpy()
    return [rows.iloc[np.lexsort((rows["end"].to_numpy(), rows["start"].to_numpy(), key))]]
