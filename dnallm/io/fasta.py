"""Sequence input: a streaming FASTA reader and the other input shapes dnallm accepts.

Alphabet policy (the same for files and in-memory input):

=====================================  ===============================================================
input                                  what dnallm does
=====================================  ===============================================================
``A C G T`` and ``N``                  kept
lower case (soft-masked repeats)       upper-cased (the mask itself is not kept)
IUPAC codes ``R Y S W K M B D H V``    replaced by ``N`` and counted in a warning (``iupac="n"``);
                                       ``iupac="error"`` rejects them instead
``U`` (RNA)                            read as ``T`` and counted in a warning (``uracil="t"``);
                                       ``uracil="error"`` rejects it instead
spaces and tabs inside sequence lines  removed
blank lines                            ignored (blank: only ASCII whitespace, space ``\t \r \n \v \f``;
                                       a line of 0x85, 0x1c-0x1f or 0xa0 is an error like those bytes anywhere)
a UTF-8 byte-order mark at the start   dropped
``\\r\\n`` and ``\\r`` line ends          read as line ends
anything else (digits, ``-``, ``.``,   an error that names the file, line, record and character
``*``, other letters, binary data)
=====================================  ===============================================================

Record rules: the id is the first word of the header (words are split on ASCII whitespace only, so a no-break
space or U+2028 is part of the id) and must be unique within one input; the rest of the
header is the description. A header without a sequence, text before the first header, an empty file and a
repeated id are errors naming the file and line. Headers that are not valid UTF-8 are decoded with
replacement characters and a warning.

Errors in one record (a character outside the policy, no sequence, a repeated id, a header without an id) stop the
read by default (``on_error="fail"``). With ``on_error="skip"`` that record is left out, reported to the
``on_skip`` callback as a :class:`Skipped` (id, where, reason) and logged, and reading goes on; the first of two
records with the same id is kept. Errors of the file itself (missing, unreadable, binary, not gzip, truncated
gzip, text before the first header, no records) always stop the read.
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import os
import re
import shutil
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Union

from dnallm.errors import FastaFormatError, InputError

logger = logging.getLogger(__name__)

IupacPolicy = Literal["n", "error"]
UracilPolicy = Literal["t", "error"]
ErrorPolicy = Literal["fail", "skip"]

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".fas", ".seq")

_IUPAC = b"RYSWKMBDHV"
_ALLOWED = b"ACGTN"


@dataclass(frozen=True, slots=True)
class Record:
    """One input sequence.

    Attributes:
        id: the first word of the FASTA header, or the id given in memory.
        seq: the sequence after the alphabet policy: upper case, only ``A C G T N``.
        description: the rest of the header line (may be empty).
        origin: where the record came from, for messages: ``"file.fa:12"`` (header line) or ``"item 3"``.
    """

    id: str
    seq: str
    description: str = ""
    origin: str = ""

    def __len__(self) -> int:
        return len(self.seq)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out under ``on_error="skip"``.

    Attributes:
        id: the record's id ("" when the header had none).
        where: ``"file.fa:12"`` (the offending line) or ``"item 3"``.
        reason: what is wrong with it: the message the record would have stopped the run with, without the
            place (which is ``where``).
    """

    id: str
    where: str
    reason: str


SkipCallback = Callable[[Skipped], None]


def _skip_handler(on_error: str, on_skip: SkipCallback | None) -> SkipCallback | None:
    """None when errors must stop the read; else a callback that reports and logs each skipped record."""
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
    if on_error == "fail":
        return None

    def report(skipped: Skipped) -> None:
        logger.info("skipped record '%s': %s", skipped.id, skipped.reason)
        if on_skip is not None:
            on_skip(skipped)

    return report


def _table(iupac: str, uracil: str) -> bytes:
    """A 256-byte translation table: lower to upper case, IUPAC codes to N, U to T (per policy)."""
    table = bytearray(range(256))
    for c in range(ord("a"), ord("z") + 1):
        table[c] = c - 32
    if iupac == "n":
        for c in _IUPAC:
            table[c] = ord("N")
            table[c + 32] = ord("N")
    if uracil == "t":
        table[ord("U")] = table[ord("u")] = ord("T")
    return bytes(table)


_TABLES = {(i, u): _table(i, u) for i in ("n", "error") for u in ("t", "error")}
_UPPER = _table("error", "error")
_WHITESPACE = b" \t\v\f"
# Only ASCII whitespace counts as blank or separates words (a blank line, the id from the description). Other
# bytes that Python's str.strip() and str.split() would take for spaces or line ends (0x85, 0x1c-0x1f, 0xa0, and in
# headers U+00A0 and U+2028) are characters like any other: part of an id, an error in a sequence.
_ASCII_SPACE = " \t\r\n\v\f"
_ASCII_WORDS = re.compile(r"[ \t\r\n\v\f]+")
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, which some Windows editors write at the start of a file
_BAD_CHAR = re.compile(rb"[^ACGTN]")


def _check_policy(iupac: str, uracil: str) -> None:
    if iupac not in ("n", "error"):
        raise ValueError(f"iupac must be 'n' or 'error', not {iupac!r}")
    if uracil not in ("t", "error"):
        raise ValueError(f"uracil must be 't' or 'error', not {uracil!r}")


def _describe_char(byte: int) -> str:
    char = chr(byte)
    if char in "RYSWKMBDHV":
        return f"IUPAC ambiguity code '{char}'"
    if char == "U":
        return "'U' (RNA)"
    if char == "-" or char == ".":
        return f"alignment gap '{char}'"
    if 32 < byte < 127:
        return f"character '{char}'"
    return f"byte 0x{byte:02x}"


def _hint_for(byte: int) -> str:
    char = chr(byte)
    if char in "RYSWKMBDHV":
        return "iupac='error' rejects ambiguity codes; the default iupac='n' reads them as N"
    if char == "U":
        return "uracil='error' rejects U; the default uracil='t' reads it as T"
    if char in "-.":
        return "remove alignment gaps; dnallm reads unaligned DNA"
    return "a DNA sequence may hold A C G T N (any case) and IUPAC ambiguity codes"


class _Counts:
    """Counts of replaced characters in one input, logged once when the input is exhausted."""

    def __init__(self, name: str):
        self.name = name
        self.iupac_bases = 0
        self.iupac_records = 0
        self.uracil_bases = 0
        self.uracil_records = 0

    def add(self, raw_upper: bytes, iupac: str, uracil: str) -> None:
        if iupac == "n":
            n = sum(raw_upper.count(c) for c in _IUPAC)
            if n:
                self.iupac_bases += n
                self.iupac_records += 1
        if uracil == "t":
            n = raw_upper.count(b"U")
            if n:
                self.uracil_bases += n
                self.uracil_records += 1

    def log(self) -> None:
        if self.iupac_bases:
            logger.warning(
                "%s: %d IUPAC ambiguity codes in %d records were replaced by N (pass iupac='error' to reject them)",
                self.name, self.iupac_bases, self.iupac_records,
            )
        if self.uracil_bases:
            logger.warning(
                "%s: %d U in %d records were read as T (pass uracil='error' to reject them)",
                self.name, self.uracil_bases, self.uracil_records,
            )


def clean_sequence(raw: str, *, iupac: IupacPolicy = "n", uracil: UracilPolicy = "t", where: str = "sequence") -> str:
    """Apply the alphabet policy to one in-memory sequence; see the module docstring.

    Raises:
        InputError: naming ``where`` and the first offending character and its 0-based bp position.
    """
    _check_policy(iupac, uracil)
    try:
        data = raw.encode("ascii")
    except UnicodeEncodeError as exc:
        raise InputError.at(
            where, f"non-ASCII character {raw[exc.start]!r} at position {exc.start}; "
            "a DNA sequence may hold A C G T N (any case) and IUPAC ambiguity codes"
        ) from None
    data = data.translate(_TABLES[(iupac, uracil)], _WHITESPACE + b"\r\n")
    bad = _BAD_CHAR.search(data)
    if bad is not None:
        byte = data[bad.start()]
        raise InputError.at(where, f"{_describe_char(byte)} at position {bad.start()}; {_hint_for(byte)}")
    if not data:
        raise InputError.at(where, "empty sequence; every record needs at least one base")
    return data.decode("ascii")


# ----------------------------------------------------------------------------------------------------------------
# FASTA files


_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def _open_text(path: Path) -> IO[str]:
    """Open a plain or gzip FASTA file as text with universal newlines, one character per byte."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:2] == b"\x1f\x8b":
        binary: IO[bytes] = gzip.open(path, "rb")
    else:
        for magic, kind in _MAGIC.items():
            if head.startswith(magic):
                raise FastaFormatError(
                    str(path), None, None, f"the file is {kind}-compressed",
                    "decompress it first, or recompress it with gzip or bgzip",
                )
        if path.suffix.lower() == ".gz":
            raise FastaFormatError(
                str(path), None, None, "the name ends in .gz but the content is not gzip-compressed",
                "rename the file without .gz, or compress it with gzip",
            )
        binary = open(path, "rb")
    if binary.read(3) != _BOM:  # a UTF-8 byte-order mark at the start is dropped (plain and gzip alike)
        binary.seek(0)
    # latin-1 maps every byte to one character, so nothing fails to decode here; headers are re-decoded as
    # UTF-8 below and sequence characters are checked against the DNA alphabet.
    return io.TextIOWrapper(binary, encoding="latin-1", newline=None)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a FASTA file")
    denied = f"{path}: permission denied; the file is not readable by this user (check its mode)"
    if not path.is_file():  # a pipe: opening it here would take it from the writer (read once, in _parse_path)
        if not os.access(path, os.R_OK):
            raise InputError(denied)
        return
    try:  # opening, not os.access: access() answers for the real user id, and says yes to root regardless
        open(path, "rb").close()
    except PermissionError:
        raise InputError(denied) from None


def read_fasta(
    path: str | os.PathLike[str],
    *,
    iupac: IupacPolicy = "n",
    uracil: UracilPolicy = "t",
    on_error: ErrorPolicy = "fail",
    on_skip: SkipCallback | None = None,
) -> Iterator[Record]:
    """Stream the records of a FASTA file, plain or gzip/bgzip-compressed (detected from the content).

    Records come out one at a time as they are read, so a file of any size uses memory for one record.
    The alphabet policy and record rules are in this module's docstring.

    Args:
        path: a ``.fa``/``.fasta``/``.fna`` file, optionally ``.gz``; ``"-"`` reads standard input (plain or gzip).
        iupac: ``"n"`` to replace IUPAC ambiguity codes by N (default), ``"error"`` to reject them.
        uracil: ``"t"`` to read U as T (default), ``"error"`` to reject it.
        on_error: ``"fail"`` (default) stops at the first bad record; ``"skip"`` leaves bad records out and
            goes on (file-level errors still stop).
        on_skip: called with a :class:`Skipped` for every record left out.

    Yields:
        Record: id, upper-case sequence, description, origin ``"path:line"``.

    Raises:
        InputError: the path is missing, a directory or unreadable.
        FastaFormatError: with the file, the line and the record id, for every violation of the format.
    """
    _check_policy(iupac, uracil)
    skip = _skip_handler(on_error, on_skip)
    if str(path) == STDIN:
        return _from_stdin(iupac, uracil, skip)
    path = Path(path)
    _check_path(path)
    return _parse_path(path, iupac, uracil, skip)


STDIN = "-"  # the path that means standard input, as for Unix tools


def _from_stdin(iupac: str, uracil: str, skip: SkipCallback | None) -> Iterator[Record]:
    """FASTA from standard input (``-``), plain or gzip: its bytes are spooled like a pipe's; messages name
    ``<stdin>``."""
    stream = sys.stdin
    if stream is None:
        raise InputError("-: there is no standard input to read FASTA from; pass a file instead")
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        raise InputError("-: standard input is a terminal; pipe or redirect FASTA into it "
                         "(zcat x.fa.gz | dnallm predict -, or dnallm predict - < x.fa)")
    return _from_text_handle(getattr(stream, "buffer", stream), iupac, uracil, skip, name="<stdin>")


def count_records(source: object) -> int | None:
    """Count the headers of a FASTA file quickly (for progress bars); None for anything but an existing file."""
    if not isinstance(source, (str, os.PathLike)) or not os.path.isfile(source):
        return None
    path = Path(source)
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    count = 0
    previous = b"\n"
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            if fh.read(3) != _BOM:
                fh.seek(0)
            while block := fh.read(1 << 22):
                data = previous + block
                count += data.count(b"\n>") + data.count(b"\r>")
                previous = block[-1:]
    except (OSError, EOFError, zlib.error):
        return None
    return count


class _IdHashes:
    """The ids read so far, as hashes, for the duplicate-id check of a file, with the line each was first seen on.

    An open-addressing table at most half full; a slot holds the id's 64-bit ``hash``, an independent 32-bit
    CRC of its UTF-8 bytes and its header line: 20 bytes a slot, 40 to 80 bytes a record, about what a Python set
    of the hashes alone takes. An id repeats when both its hash and its CRC match (two different ids share both
    with a chance of about n^2 / 2^97: 1e-11 for a billion ids), so a repeated id is named with its first line
    in constant time, without reading the file again.
    """

    def __init__(self, size: int = 1024) -> None:
        self._slots = array("Q", bytes(8 * size))  # 0 marks an empty slot
        self._checks = array("I", bytes(4 * size))
        self._lines = array("Q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add_id(self, rid: str, line: int) -> int | None:
        """Add id ``rid`` first seen on ``line``; if it was there already, the line it was first seen on."""
        key = (hash(rid) & 0xFFFFFFFFFFFFFFFF) or 1
        check = zlib.crc32(rid.encode("utf-8", "surrogatepass"))
        return self._add(key, check, line)

    def add(self, key: int) -> bool:
        """Add the bare 64-bit hash ``key`` (no CRC, no line); True when it was there already."""
        return self._add((key & 0xFFFFFFFFFFFFFFFF) or 1, 0, 0) is not None

    def _add(self, key: int, check: int, line: int) -> int | None:
        slots, checks, mask = self._slots, self._checks, self._mask
        i = key & mask
        while (here := slots[i]) != 0:
            if here == key and checks[i] == check:
                return self._lines[i]
            i = (i + 1) & mask
        slots[i], checks[i], self._lines[i] = key, check, line
        self._count += 1
        if 2 * self._count > mask:
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._slots, self._checks, self._lines)
        size = 2 * len(self._slots)
        self._slots, self._checks = array("Q", bytes(8 * size)), array("I", bytes(4 * size))
        self._lines, self._mask, self._count = array("Q", bytes(8 * size)), size - 1, 0
        for key, check, line in list(old):
            if key:
                self._add(key, check, line)


def _parse_file(path: Path, iupac: str, uracil: str, skip: SkipCallback | None = None) -> Iterator[Record]:
    name = str(path)
    table = _TABLES[(iupac, uracil)]
    counts = _Counts(name)
    seen = _IdHashes()  # hashes of the ids so far, not the ids themselves
    rid: str | None = None
    desc = ""
    header_line = 0
    chunks: list[str] = []
    chunk_lines: list[int] = []
    lineno = 0
    n_records = 0
    dropped = False  # the current record was already reported as skipped

    def finish() -> Record | None:
        if dropped:
            return None
        try:
            return build()
        except FastaFormatError as exc:
            if skip is None:
                raise
            skip(Skipped(rid or "", f"{name}:{exc.line or header_line}", exc.reason))
            return None

    def build() -> Record:
        raw = "".join(chunks).encode("latin-1")
        upper = raw.translate(_UPPER, _WHITESPACE)
        if not upper:
            raise FastaFormatError(
                name, header_line, rid, "the record has no sequence", "remove the header or add its sequence"
            )
        seq = upper.translate(table)
        bad = _BAD_CHAR.search(seq)
        if bad is not None:
            line, col = _locate(chunks, chunk_lines, bad.start())
            byte = seq[bad.start()]
            raise FastaFormatError(
                name, line, rid, f"{_describe_char(byte)} in column {col}", _hint_for(byte)
            )
        counts.add(upper, iupac, uracil)
        return Record(rid, seq.decode("ascii"), desc, f"{name}:{header_line}")  # type: ignore[arg-type]

    try:
        with _open_text(path) as fh:
            opened = _file_state(path)
            for lineno, line in enumerate(fh, 1):
                if line.startswith(">"):
                    if rid is not None:
                        rec = finish()
                        if rec is not None:
                            yield rec
                            n_records += 1
                    dropped = False
                    header_line = lineno
                    chunks.clear()
                    chunk_lines.clear()
                    try:
                        rid, desc = _parse_header(line, name, lineno)
                        first = seen.add_id(rid, lineno)
                        if first is not None:
                            raise FastaFormatError(
                                name, lineno, rid, f"duplicate id (first seen on line {first})",
                                "ids must be unique within one input",
                            )
                    except FastaFormatError as exc:
                        if skip is None:
                            raise
                        rid = exc.record_id or ""
                        dropped = True
                        skip(Skipped(rid, f"{name}:{lineno}", exc.reason))
                    continue
                text = line.rstrip("\n")
                if not text.strip(_ASCII_SPACE):  # only ASCII whitespace makes a line blank
                    continue
                if rid is None:
                    if "\x00" in text:
                        raise FastaFormatError(
                            name, lineno, None, "binary data, not a FASTA file", "check that this is the right file"
                        )
                    raise FastaFormatError(
                        name, lineno, None, "text before the first '>' header",
                        "a FASTA file starts with a '>' header line",
                    )
                chunks.append(text)
                chunk_lines.append(lineno)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FastaFormatError(
            name, lineno or None, rid, f"the gzip data is truncated or corrupt ({exc})",
            "the file was probably cut short while copying; fetch it again",
        ) from None
    except OSError as exc:
        raise FastaFormatError(
            name, lineno or None, rid, f"read error ({exc.strerror or exc})", "check the file and the disk"
        ) from None
    _check_unchanged(path, opened)
    if rid is None:
        raise FastaFormatError(name, None, None, "no FASTA records (the file is empty)", "check the path")
    rec = finish()
    if rec is not None:
        yield rec
        n_records += 1
    counts.log()
    logger.debug("%s: %d records", name, n_records)


def _file_state(path: Path) -> tuple[int, int, int, int]:
    """What tells that a file changed: (device, inode, size in bytes, mtime in ns) of what ``path`` names now."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _check_unchanged(path: Path, opened: tuple[int, int, int, int]) -> None:
    """At the end of the file: fail if ``path`` was replaced (mv), appended to or rewritten while it was read,
    so that no run writes rows from two versions of one input."""
    try:
        now = _file_state(path)
    except OSError:
        now = None
    if now == opened:
        return
    if now is None:
        what = "was removed or renamed"
    elif now[:2] != opened[:2]:
        what = "was replaced by another file (moved over, or rewritten as a new file)"
    elif now[2] != opened[2]:
        what = f"changed size from {opened[2]:,} to {now[2]:,} bytes (written to)"
    else:
        what = "was modified (its modification time changed)"
    raise InputError(
        f"{path}: the file {what} while it was being read; its records may come from two versions of the file. "
        "Let the program writing it finish (or copy it somewhere stable), then run again without --resume"
    )


def _decode_header(line: str) -> tuple[str, bool]:
    """The header text after '>' as UTF-8 (invalid bytes replaced), and whether it was valid UTF-8."""
    raw = line[1:].rstrip("\n").encode("latin-1")
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _parse_header(line: str, name: str, lineno: int) -> tuple[str, str]:
    header, valid = _decode_header(line)
    if not valid:
        logger.warning("%s:%d: header is not valid UTF-8; undecodable bytes were replaced by U+FFFD", name, lineno)
    parts = _header_words(header)
    if not parts:
        raise FastaFormatError(name, lineno, None, "header without an id", "write an id right after '>'")
    if "\x00" in header:
        raise FastaFormatError(name, lineno, None, "binary data in a header", "check that this is a FASTA file")
    return parts[0], parts[1] if len(parts) > 1 else ""


def _header_words(header: str) -> list[str]:
    """The id and the description of a header: split once on ASCII whitespace only (see ``_ASCII_SPACE``)."""
    return _ASCII_WORDS.split(header.strip(_ASCII_SPACE), 1) if header.strip(_ASCII_SPACE) else []


def _locate(chunks: list[str], chunk_lines: list[int], pos: int) -> tuple[int, int]:
    """Line and 1-based column of base ``pos`` (after whitespace removal) in the record's sequence lines."""
    for chunk, line in zip(chunks, chunk_lines):
        stripped = [i for i, c in enumerate(chunk) if c not in " \t\v\f"]
        if pos < len(stripped):
            return line, stripped[pos] + 1
        pos -= len(stripped)
    return chunk_lines[-1], 1


# ----------------------------------------------------------------------------------------------------------------
# Every input shape of the public surface

SequenceInput = Union[str, "os.PathLike[str]", Record, Mapping[str, str], Iterable]

_SEQUENCE_STRING = re.compile(r"[ACGTNacgtn]+")


def iter_records(
    source: SequenceInput,
    *,
    iupac: IupacPolicy = "n",
    uracil: UracilPolicy = "t",
    on_error: ErrorPolicy = "fail",
    on_skip: SkipCallback | None = None,
) -> Iterator[Record]:
    """Turn any accepted input into a stream of :class:`Record`.

    Accepted:
        * a path (``str`` or ``os.PathLike``) to an existing FASTA file, plain or gzip;
        * a ``str`` that is itself a DNA sequence of only ``ACGTN`` (any case): one record with id ``seq0``.
          A string that is neither an existing file nor such a sequence is an error, never read as DNA;
        * ``"-"``: FASTA (plain or gzip) from standard input;
        * a :class:`Record`, or an open file holding FASTA: text (``open(p)``, ``io.StringIO``) or binary
          (``open(p, "rb")``, ``io.BytesIO``), plain or gzip-compressed bytes;
        * a ``dict`` of id -> sequence; a pandas ``Series`` of sequences (its index gives the ids); a pandas
          ``DataFrame`` with an ``id`` and a ``seq`` (or ``sequence``) column;
        * an iterable of sequences (ids ``seq0``, ``seq1``, ...), of ``(id, seq)`` pairs, of Records, or of
          Biopython ``SeqRecord`` objects (anything with ``.id`` and ``.seq``).

    In-memory sequences follow the same alphabet policy as files; ids must be unique. ``on_error`` and
    ``on_skip`` work as in :func:`read_fasta`, for the records of files and of lists and dicts alike.
    """
    _check_policy(iupac, uracil)
    skip = _skip_handler(on_error, on_skip)
    if isinstance(source, os.PathLike):
        yield from read_fasta(source, iupac=iupac, uracil=uracil, on_error=on_error, on_skip=on_skip)
        return
    if isinstance(source, str):
        yield from _from_string(source, iupac, uracil, skip)
        return
    if isinstance(source, (bytes, bytearray)):
        raise InputError("bytes input: pass a str sequence, a path, or decode the bytes first")
    if isinstance(source, Record):
        yield Record(source.id, clean_sequence(source.seq, iupac=iupac, uracil=uracil, where=f"record '{source.id}'"),
                     source.description, source.origin)
        return
    if isinstance(source, io.TextIOBase) or (hasattr(source, "read") and hasattr(source, "readline")):
        yield from _from_text_handle(source, iupac, uracil, skip)  # type: ignore[arg-type]
        return
    frame_items = _pandas_items(source)
    if frame_items is not None:
        yield from _from_items(frame_items, iupac, uracil, skip)
        return
    if isinstance(source, Mapping):
        items: Iterable = ((str(k), v) for k, v in source.items())
        yield from _from_items(items, iupac, uracil, skip)
        return
    if isinstance(source, Iterable):
        yield from _from_items(source, iupac, uracil, skip)
        return
    raise InputError(
        f"cannot read sequences from a {type(source).__name__}; pass a FASTA path, a sequence string, "
        "a list of sequences, a dict of id -> sequence, or an iterable of (id, sequence) pairs"
    )


def _pandas_items(source: object) -> Iterator[tuple[str, object]] | None:
    """(id, sequence) pairs of a pandas Series (index -> sequence) or DataFrame (``id`` and ``seq`` or
    ``sequence`` columns); None for anything else. pandas is not imported for this: an object can be a pandas
    one only once pandas is loaded."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if isinstance(source, pd.Series):
        return ((str(k), v) for k, v in source.items())
    if isinstance(source, pd.DataFrame):
        columns = [str(c) for c in source.columns]
        seq_column = next((c for c in ("seq", "sequence") if c in columns), None)
        if "id" not in columns or seq_column is None:
            shown = ", ".join(repr(c) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
            raise InputError(
                f"a DataFrame needs an 'id' and a 'seq' (or 'sequence') column; this one has {shown or 'none'}: "
                "rename its columns, or pass a Series of sequences indexed by id (df.set_index(ID)[SEQ])"
            )
        return ((str(k), v) for k, v in zip(source["id"], source[seq_column]))
    return None


def _from_string(source: str, iupac: str, uracil: str, skip: SkipCallback | None) -> Iterator[Record]:
    if source == STDIN:
        yield from _from_stdin(iupac, uracil, skip)
        return
    if os.path.exists(source):
        path = Path(source)
        _check_path(path)
        yield from _parse_path(path, iupac, uracil, skip)
        return
    text = source.strip(_ASCII_SPACE)
    if _SEQUENCE_STRING.fullmatch(text):
        yield Record("seq0", text.upper(), "", "argument")
        return
    shown = source if len(source) <= 60 else source[:57] + "..."
    if text.startswith(">"):
        raise InputError(
            f"{shown!r} looks like FASTA text, not a path; write it to a file, or wrap it in io.StringIO"
        )
    looks_like_path = any(c in source for c in "/\\.~") or source.lower().endswith(FASTA_SUFFIXES)
    if looks_like_path:
        raise InputError(f"{source}: no such file; check the path")
    raise InputError(
        f"{shown!r} is not an existing file and not a DNA sequence (a sequence string may hold only "
        "A C G T N); pass a path that exists, or a list or dict of sequences for other IUPAC codes"
    )


def _parse_path(path: Path, iupac: str, uracil: str, skip: SkipCallback | None) -> Iterator[Record]:
    """A regular file is read in place. A pipe (``<(zcat x.fa.gz)``, a named pipe, /dev/stdin) can be read only
    once, and the reader looks at a file more than once (the compression magic, a repeated id's first line), so
    its bytes are copied to a temporary file first; messages still name the pipe."""
    if path.is_file():
        return _parse_file(path, iupac, uracil, skip)

    def copy(out: IO[bytes]) -> None:
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, out, 1 << 20)

    return _parse_spooled(copy, "wb", str(path), iupac, uracil, skip)


def _from_text_handle(
    handle: IO, iupac: str, uracil: str, skip: SkipCallback | None, name: str | None = None
) -> Iterator[Record]:
    """An open file object, text or binary (plain or gzip bytes, told by what ``read`` returns), spooled to a
    temporary file and read from there."""
    first = handle.read(1 << 20)
    binary = isinstance(first, (bytes, bytearray, memoryview))
    if not binary and not isinstance(first, str):
        raise InputError(f"cannot read FASTA from a {type(handle).__name__}: its read() returned a "
                         f"{type(first).__name__}, not text or bytes")

    def copy(out: IO) -> None:
        block = first
        while block:
            out.write(block)
            block = handle.read(1 << 20)

    if name is None:
        name = str(getattr(handle, "name", "<stream>"))
    return _parse_spooled(copy, "wb" if binary else "w", name, iupac, uracil, skip)


def _parse_spooled(
    copy: Callable[[Any], None], mode: str, name: str, iupac: str, uracil: str, skip: SkipCallback | None
) -> Iterator[Record]:
    """Reuse the file parser (and its messages) on input copied to a temporary file by ``copy``; places in
    records, skipped records and errors name the input, not the copy."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp) / ("input.fa.gz" if name.lower().endswith(".gz") else "input.fa")
        try:
            with open(spool, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as out:
                copy(out)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            raise InputError(
                f"{name}: no space left on device copying this input to the temporary folder {tmp} (a pipe or "
                "stream is copied once before it is read); free space there, or point TMPDIR to a folder with room "
                "for the whole input"
            ) from None

        def renamed(skipped: Skipped) -> None:
            assert skip is not None
            skip(Skipped(skipped.id, skipped.where.replace(str(spool), name), skipped.reason))

        try:
            for rec in _parse_file(spool, iupac, uracil, renamed if skip is not None else None):
                yield Record(rec.id, rec.seq, rec.description, rec.origin.replace(str(spool), name))
        except FastaFormatError as exc:
            raise FastaFormatError(name, exc.line, exc.record_id, exc.problem, exc.hint) from None


def _from_items(items: Iterable, iupac: str, uracil: str, skip: SkipCallback | None) -> Iterator[Record]:
    seen: dict[str, int] = {}
    counts = _Counts("input")
    n = 0
    for i, item in enumerate(items):
        try:
            rec, raw = _item_record(i, item, seen, iupac, uracil)
        except InputError as exc:
            if skip is None:
                raise
            rid = item[0] if isinstance(item, tuple) and len(item) == 2 else getattr(item, "id", "")
            skip(Skipped(str(rid) if rid is not None else "", f"item {i}", exc.reason))
            continue
        counts.add(raw.upper().encode("ascii"), iupac, uracil)
        n += 1
        yield rec
    if n == 0 and skip is None:
        raise InputError("no sequences given (the input is empty)")
    counts.log()


def _item_record(i: int, item: object, seen: dict[str, int], iupac: str, uracil: str) -> tuple[Record, str]:
    """One in-memory item as a Record (and its raw sequence, for the replacement counts)."""
    description = ""
    if isinstance(item, Record):
        rid, seq, description = item.id, item.seq, item.description
    elif isinstance(item, str):
        if os.path.exists(item) or item.lower().endswith(FASTA_SUFFIXES + (".gz",)):
            problem = ("is a file name, but items of a list are read as sequences; "
                       "pass one FASTA path at a time, or chain read_fasta() over several files")
            raise InputError(f"item {i} ({item!r}) {problem}", reason=f"{item!r} {problem}")
        rid, seq = f"seq{i}", item
    elif isinstance(item, tuple) and len(item) == 2:
        rid, seq = item
    elif hasattr(item, "id") and hasattr(item, "seq"):
        rid, seq = item.id, str(item.seq)
        description = str(getattr(item, "description", "") or "")
    else:
        raise InputError.at(
            f"item {i}", f"expected a sequence string, an (id, sequence) pair or a record, got {type(item).__name__}"
        )
    rid = str(rid)
    if not isinstance(seq, str):
        raise InputError.at(f"item {i} (id '{rid}')", f"the sequence is a {type(seq).__name__}, not a str")
    if not rid or any(c in _ASCII_SPACE for c in rid):
        raise InputError.at(f"item {i}", f"id {rid!r} must be non-empty and without whitespace")
    if rid in seen:
        raise InputError.at(f"item {i}", f"duplicate id '{rid}' (first at item {seen[rid]}); ids must be unique")
    seen[rid] = i
    where = f"item {i} (id '{rid}')"
    clean = clean_sequence(seq, iupac=iupac, uracil=uracil, where=where)
    return Record(rid, clean, description, f"item {i}"), seq
