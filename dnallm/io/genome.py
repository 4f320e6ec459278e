"""A reference genome read by pyfaidx: random access to contig bases, 0-based half-open, upper case.

``Genome(path)`` takes a plain FASTA or a bgzip-compressed one (``.fa.gz`` written by ``bgzip``), with its
``.fai`` index (and ``.gzi`` for bgzip) beside it; a missing index is built there by pyfaidx, and the log says so
(it takes seconds per 100 Mb). A genome compressed with plain ``gzip`` cannot be read at random: it is decompressed
once into a temporary file for the run (logged, with the ``bgzip`` command that avoids it next time).

Bases come back upper case (soft-masked repeats are read as any other base); IUPAC codes and any other letter
become ``N``. VCF contig names may differ from the genome's by a ``chr`` prefix (``chr1`` / ``1``, ``chrM`` /
``MT``): :meth:`Genome.contig` suggests the other spelling when it would match, and maps it when asked
(``chrom_alias="chr"``), or follows a table of ``vcf_name -> genome_name`` (a dict, or a two-column TSV file).

:func:`read_bed` reads BED intervals (BED3 to BED6, as ``dnallm scan --regions`` takes them), checked line by line.
"""

from __future__ import annotations

import atexit
import gzip
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dnallm.errors import DnallmError
from dnallm.io.files import open_text

logger = logging.getLogger(__name__)

INSTALL = "pip install pyfaidx (or 'dnallm[scan]', 'dnallm[variants]')"
#: bases are read from the genome this many at a time while the positions asked for move on along a contig
BLOCK = 1 << 20
#: a read starting at most this far past the last block reads on (a block ahead) ...
NEAR = 1 << 16
#: ... one further away is a jump, which reads this many bases
JUMP = 1 << 12
_TO_N = bytes(c if c in b"ACGTN" else ord("N") for c in bytes(range(256)).upper())


def _pyfaidx():
    try:
        import pyfaidx
    except ImportError:
        raise DnallmError(f"reading a genome needs pyfaidx, which is not installed; install it with: {INSTALL}"
                          ) from None
    return pyfaidx


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _is_bgzip(path: Path) -> bool:
    """A gzip file whose first member carries bgzip's extra field ``BC``."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"


def _check_fasta(path: Path) -> None:
    """A genome file starts with a FASTA header line (after blank lines)."""
    with open_text(path) as fh:
        try:
            head = fh.read(4096).lstrip()
        except (OSError, EOFError):
            raise DnallmError(f"{path}: a damaged gzip file; the genome must be FASTA, plain or bgzip") from None
    if not head.startswith(">"):
        shown = head[:30].split("\n")[0] if head else "nothing"
        raise DnallmError(f"{path}: not a FASTA genome (it starts with '{shown}', not with a '>' header line)")


def _decompressed(path: Path) -> Path:
    """A plain-gzip genome, decompressed into a temporary file removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="dnallm-genome-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    plain = folder / path.name.removesuffix(".gz")
    start = time.perf_counter()
    with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    logger.warning("%s is compressed with plain gzip, which cannot be read at random: decompressed to a temporary "
                   "file for this run (%.1f s); to avoid it, recompress it once with: gunzip -c %s | bgzip > %s",
                   path, time.perf_counter() - start, path, plain.name + ".bgz")
    return plain


def read_alias_table(path: str | Path) -> dict[str, str]:
    """A two-column TSV (VCF contig name, genome contig name), ``#`` comments allowed."""
    table = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise DnallmError(f"{path}:{number}: a contig alias line is two names, VCF then genome, "
                                  f"separated by a tab; this one has {len(parts)} fields")
            table[parts[0]] = parts[1]
    return table


def _other_spellings(name: str) -> list[str]:
    """The same contig with or without ``chr`` (and chrM <-> MT)."""
    if name in ("chrM", "chrMT"):
        return ["MT", "M"]
    if name in ("MT", "M"):
        return ["chrM", "chrMT"]
    return [name[3:]] if name.startswith("chr") else ["chr" + name]


class ContigError(DnallmError):
    """A contig (of a VCF, a BED or ``--chroms``) the genome does not have."""


class Genome:
    """A FASTA genome with random access (see the module docstring).

    Args:
        path: plain FASTA or bgzip FASTA.
        chrom_alias: None (names must match), ``"chr"`` (add or remove a ``chr`` prefix where that matches), a
            dict ``vcf_name -> genome_name``, or the path of a two-column TSV of them.
    """

    def __init__(self, path: str | Path, chrom_alias: str | Path | dict[str, str] | None = None):
        pyfaidx = _pyfaidx()
        self.path = Path(path)
        if not self.path.is_file():
            raise DnallmError(f"{path}: no such genome file")
        source = self.path
        _check_fasta(source)
        if _is_gzip(source) and not _is_bgzip(source):
            source = _decompressed(source)
        index = Path(str(source) + ".fai")
        if not index.exists() and source == self.path:
            logger.warning("%s has no index (%s): building it (pyfaidx)", self.path, index.name)
        try:
            self._fasta = pyfaidx.Fasta(str(source), sequence_always_upper=False, as_raw=True)
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as exc:
            damaged = f"; if its index {index.name} is damaged, delete it (it is rebuilt)" if index.exists() else ""
            raise DnallmError(f"{path}: not a FASTA genome pyfaidx can index ({' '.join(str(exc).split())})"
                              f"{damaged}") from None
        except PermissionError:
            raise DnallmError(f"{path}: its index {index.name} is missing and cannot be written beside it; copy "
                              "the genome to a folder you can write, or index it there with samtools faidx") from None
        self.lengths: dict[str, int] = {name: len(rec) for name, rec in self._fasta.records.items()}
        if not self.lengths:
            raise DnallmError(f"{path}: no sequences in this genome FASTA")
        self.alias = self._alias(chrom_alias)
        self._block: tuple[str, int, bytes] = ("", 0, b"")

    def _alias(self, chrom_alias: Any) -> dict[str, str] | str | None:
        if chrom_alias is None or chrom_alias == "chr":
            return chrom_alias
        if isinstance(chrom_alias, dict):
            return dict(chrom_alias)
        if os.path.isfile(chrom_alias):
            return read_alias_table(chrom_alias)
        raise DnallmError(f"--chrom-alias {chrom_alias}: no such file; give 'chr' (add or remove the prefix) or a "
                          "two-column TSV of VCF and genome contig names")

    def contig(self, name: str) -> str:
        """The genome's name of the VCF contig ``name``.

        Raises:
            ContigError: the genome lacks it; the message says when another spelling would match.
        """
        if isinstance(self.alias, dict):
            name = self.alias.get(name, name)
        if name in self.lengths:
            return name
        others = [other for other in _other_spellings(name) if other in self.lengths]
        if others and self.alias == "chr":
            return others[0]
        if others:
            raise ContigError(f"contig '{name}' is not in the genome, which has '{others[0]}'; add --chrom-alias chr "
                              "(chrom_alias='chr') to add or remove the 'chr' prefix")
        shown = ", ".join(f"'{c}'" for c in list(self.lengths)[:3]) + (", ..." if len(self.lengths) > 3 else "")
        count = f"{len(self.lengths):,} contig{'s' if len(self.lengths) != 1 else ''}"
        raise ContigError(f"contig '{name}' is not in the genome ({count}: {shown})")

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases ``[start, end)`` of ``contig`` (a genome name), upper case, other letters as ``N``."""
        name, offset, block = self._block
        if name != contig or start < offset or end > offset + len(block):
            # reading on along the contig (tiles, a sorted VCF or BED): a block ahead; after a jump (the first read
            # of a contig, an unsorted BED) only a little, so that random access does not read blocks it never uses
            onward = name == contig and offset <= start <= offset + len(block) + NEAR
            offset = start
            stop = min(self.lengths[contig], max(end, start + (BLOCK if onward else JUMP)))
            block = self._fasta[contig][offset:stop].encode("ascii", "replace").translate(_TO_N)
            self._block = (contig, offset, block)
        return block[start - offset : end - offset].decode("ascii")

    def close(self) -> None:
        self._fasta.close()


# -- BED intervals ---------------------------------------------------------------------------------------------


class Interval:
    """One BED line: ``chrom``, ``start``, ``end`` (0-based, half-open), ``name`` (None for none or ``.``),
    ``strand`` (``+``, ``-`` or ``.``), and ``where`` (``file.bed:12``) for messages."""

    __slots__ = ("chrom", "start", "end", "name", "strand", "where")

    def __init__(self, chrom: str, start: int, end: int, name: str | None, strand: str, where: str):
        self.chrom, self.start, self.end, self.name, self.strand, self.where = chrom, start, end, name, strand, where

    @property
    def label(self) -> str:
        """The record id of the interval: its name, else ``chrom:start-end``, with ``(+)`` / ``(-)`` when the
        line gives a strand (as ``bedtools getfasta -s`` names them)."""
        if self.name is not None:
            return self.name
        return f"{self.chrom}:{self.start}-{self.end}" + (f"({self.strand})" if self.strand != "." else "")


def _bed_fields(line: str) -> list[str]:
    fields = [f.strip() for f in line.rstrip("\r\n").split("\t")]
    return fields if len(fields) >= 3 else line.split()  # BED is tab-separated; spaces are read too


def _is_header(line: str) -> bool:
    """A line BED readers pass over: blank, a comment, or a UCSC ``track`` / ``browser`` line (a contig named
    ``trackA`` is data)."""
    word = line.split(None, 1)[0] if line.strip() else ""
    return not word or word.startswith("#") or word in ("track", "browser")


def _open_bed(path: str | Path):
    """A BED file, plain or gzip, as UTF-8 text (a byte-order mark dropped; undecodable bytes shown as U+FFFD)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def _bed_int(text: str, what: str, where: str) -> int:
    if not text.isdigit():
        raise DnallmError(f"{where}: the {what} column holds '{text[:20]}', not a whole number of bp (0-based; "
                          "a BED line is chrom, start, end[, name, score, strand] separated by tabs)")
    return int(text)


def read_bed(path: str | Path) -> Iterator[Interval]:
    """The intervals of a BED file (plain or gzip, UTF-8), in file order: BED3 to BED6 (columns past the sixth, as
    in narrowPeak or BED12, are read past; spaces around a field are dropped); blank, ``track``, ``browser`` and
    ``#`` lines are passed over.

    Raises:
        DnallmError: a malformed line, named ``file:line``: fewer than 3 columns, a start or end that is not a
            whole number, an end before its start, a strand other than ``+ - .``.
    """
    if not os.path.isfile(path):
        raise DnallmError(f"{path}: no such BED file (a BED is read more than once: give a file, not a pipe)")
    with _open_bed(path) as fh:
        for number, line in enumerate(fh, 1):
            if _is_header(line):
                continue
            where = f"{path}:{number}"
            fields = _bed_fields(line)
            if len(fields) < 3:
                raise DnallmError(f"{where}: a BED line needs at least 3 columns (chrom, start, end) separated by "
                                  f"tabs; this one has {len(fields)}")
            chrom = fields[0]
            start, end = _bed_int(fields[1], "start", where), _bed_int(fields[2], "end", where)
            if end < start:
                raise DnallmError(f"{where}: the interval ends ({end:,}) before it starts ({start:,})")
            name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else None
            strand = fields[5] if len(fields) > 5 and fields[5] else "."
            if strand not in ("+", "-", "."):
                raise DnallmError(f"{where}: the strand column (6th) holds '{strand[:20]}'; it must be +, - or .")
            yield Interval(chrom, start, end, name, strand, where)


def count_bed(path: str | Path) -> int:
    """The number of intervals of a BED file, every line checked as :func:`read_bed` does."""
    return sum(1 for _ in read_bed(path))
