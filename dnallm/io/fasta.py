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

This module holds the FASTA parser and :func:`iter_records`, the dispatch over every input shape; the alphabet
policy is in :mod:`dnallm.io.alphabet`, in-memory inputs in :mod:`dnallm.io.records`, opening and checking files
(and spooling streams) in :mod:`dnallm.io.files`. The policy travels as one :class:`InputOptions`.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Union

from dnallm.errors import FastaFormatError, InputError
from dnallm.io import alphabet, files
from dnallm.io.alphabet import clean_sequence
from dnallm.io.files import count_records
from dnallm.io.files import open_text as _open_text  # looked up here at each open (tests count the opens)
from dnallm.io.idhashes import IdHashes
from dnallm.io.options import ErrorPolicy, InputOptions, IupacPolicy, SkipCallback, Skipped, UracilPolicy
from dnallm.io.records import FASTA_SUFFIXES, Record, from_items, input_options, pandas_items, record_of, skip

__all__ = [
    "FASTA_SUFFIXES", "STDIN", "ErrorPolicy", "InputOptions", "IupacPolicy", "Record", "SequenceInput",
    "SkipCallback", "Skipped", "UracilPolicy", "clean_sequence", "count_records", "iter_records", "read_fasta",
]

logger = logging.getLogger(__name__)

STDIN = "-"  # the path that means standard input, as for Unix tools

SequenceInput = Union[str, "os.PathLike[str]", Record, Mapping[str, str], Iterable]

_SEQUENCE_STRING = re.compile(r"[ACGTNacgtn]+")


# ----------------------------------------------------------------------------------------------------------------
# The public readers


def read_fasta(
    path: str | os.PathLike[str],
    *,
    iupac: IupacPolicy = "n",
    uracil: UracilPolicy = "t",
    on_error: ErrorPolicy = "fail",
    on_skip: SkipCallback | None = None,
    options: InputOptions | None = None,
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
        options: the four settings above as one :class:`InputOptions` (then leave the keywords alone).

    Yields:
        Record: id, upper-case sequence, description, origin ``"path:line"``.

    Raises:
        OptionError: a setting dnallm does not take, or ``options`` given together with a keyword.
        InputError: the path is missing, a directory or unreadable.
        FastaFormatError: with the file, the line and the record id, for every violation of the format.
    """
    options = input_options(options, iupac, uracil, on_error, on_skip)
    if str(path) == STDIN:
        return _from_stdin(options)
    path = Path(path)
    files.check_path(path)
    return _parse_path(path, options)


def iter_records(
    source: SequenceInput,
    *,
    iupac: IupacPolicy = "n",
    uracil: UracilPolicy = "t",
    on_error: ErrorPolicy = "fail",
    on_skip: SkipCallback | None = None,
    options: InputOptions | None = None,
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
    ``on_skip`` work as in :func:`read_fasta`, for the records of files and of lists and dicts alike; ``options``
    gives all four settings as one :class:`InputOptions` (then leave the keywords alone).
    """
    options = input_options(options, iupac, uracil, on_error, on_skip)
    yield from _records_of(source, options)


def _records_of(source: SequenceInput, options: InputOptions) -> Iterator[Record]:
    """The dispatch of :func:`iter_records` over the input shapes."""
    if isinstance(source, os.PathLike):
        return read_fasta(source, options=options)
    if isinstance(source, str):
        return _from_string(source, options)
    if isinstance(source, (bytes, bytearray)):
        raise InputError("bytes input: pass a str sequence, a path, or decode the bytes first")
    if isinstance(source, Record):
        return iter([record_of(source, options)])
    if isinstance(source, io.TextIOBase) or (hasattr(source, "read") and hasattr(source, "readline")):
        return _from_text_handle(source, options)  # type: ignore[arg-type]
    frame_items = pandas_items(source)
    if frame_items is not None:
        return from_items(frame_items, options)
    if isinstance(source, Mapping):
        return from_items(((str(k), v) for k, v in source.items()), options)
    if isinstance(source, Iterable):
        return from_items(source, options)
    raise InputError(
        f"cannot read sequences from a {type(source).__name__}; pass a FASTA path, a sequence string, "
        "a list of sequences, a dict of id -> sequence, or an iterable of (id, sequence) pairs"
    )


def _from_string(source: str, options: InputOptions) -> Iterator[Record]:
    if source == STDIN:
        return _from_stdin(options)
    if os.path.exists(source):
        path = Path(source)
        files.check_path(path)
        return _parse_path(path, options)
    text = source.strip(alphabet.ASCII_SPACE)
    if _SEQUENCE_STRING.fullmatch(text):
        return iter([Record("seq0", text.upper(), "", "argument")])
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


# ----------------------------------------------------------------------------------------------------------------
# Streams: standard input, pipes and open file objects, copied to a temporary file and parsed there


def _from_stdin(options: InputOptions) -> Iterator[Record]:
    """FASTA from standard input (``-``), plain or gzip: spooled like a pipe's; messages name ``<stdin>``."""
    return _from_text_handle(files.stdin_bytes(), options, name="<stdin>")


def _parse_path(path: Path, options: InputOptions) -> Iterator[Record]:
    """A regular file is read in place. A pipe (``<(zcat x.fa.gz)``, a named pipe, /dev/stdin) can be read only
    once, and the reader looks at a file more than once (the compression magic, a repeated id's first line), so
    its bytes are copied to a temporary file first; messages still name the pipe."""
    if path.is_file():
        return _parse_file(path, options)
    return _parse_spooled(files.pipe_copier(path), "wb", str(path), options)


def _from_text_handle(handle: IO, options: InputOptions, name: str | None = None) -> Iterator[Record]:
    """An open file object, text or binary (plain or gzip bytes), spooled to a temporary file and read there."""
    copy, mode = files.stream_copier(handle)
    if name is None:
        name = str(getattr(handle, "name", "<stream>"))
    return _parse_spooled(copy, mode, name, options)


def _parse_spooled(copy: Callable[[Any], None], mode: str, name: str, options: InputOptions) -> Iterator[Record]:
    """The file parser (and its messages) on input copied to a temporary file by ``copy``; places in records,
    skipped records and errors name the input, not the copy."""
    with files.spooled(copy, mode, name) as spool:
        yield from _parse_file(spool, options, name)


# ----------------------------------------------------------------------------------------------------------------
# The FASTA file parser

class _Parser:
    """The state of one FASTA file being read: the record under way, the ids so far, the replacement counts.

    Args:
        name: the file as messages and origins name it.
        options: the input policy.
    """

    def __init__(self, name: str, options: InputOptions):
        self.name = name
        self.options = options
        self.table = alphabet.TABLES[(options.iupac, options.uracil)]
        self.counts = alphabet.ReplacementCounts(name)
        self.seen = IdHashes()  # hashes of the ids so far, not the ids themselves
        self.rid: str | None = None  # None until the first header
        self.desc = ""
        self.header_line = 0
        self.chunks: list[str] = []  # the record's sequence lines, as read
        self.chunk_lines: list[int] = []
        self.dropped = False  # the current record was already reported as skipped
        self.n_records = 0

    def start(self, line: str, lineno: int) -> None:
        """Begin the record of the header ``line``; a bad header (no id, binary, a repeated id) stops the read
        or, when skipping, drops the record that follows it."""
        self.dropped = False
        self.header_line = lineno
        self.chunks.clear()
        self.chunk_lines.clear()
        try:
            self.rid, self.desc = _parse_header(line, self.name, lineno)
            first = self.seen.add_id(self.rid, lineno)
            if first is not None:
                raise FastaFormatError(
                    self.name, lineno, self.rid, f"duplicate id (first seen on line {first})",
                    "ids must be unique within one input",
                )
        except FastaFormatError as exc:
            if not self.options.skipping:
                raise
            self.rid = exc.record_id or ""
            self.dropped = True
            skip(self.options, Skipped(self.rid, f"{self.name}:{lineno}", exc.reason))

    def add(self, line: str, lineno: int) -> None:
        """A line that is not a header: a sequence line of the record under way, or a blank line."""
        text = line.rstrip("\n")
        if not text.strip(alphabet.ASCII_SPACE):  # only ASCII whitespace makes a line blank
            return
        if self.rid is None:
            if "\x00" in text:
                raise FastaFormatError(
                    self.name, lineno, None, "binary data, not a FASTA file", "check that this is the right file"
                )
            raise FastaFormatError(
                self.name, lineno, None, "text before the first '>' header",
                "a FASTA file starts with a '>' header line",
            )
        self.chunks.append(text)
        self.chunk_lines.append(lineno)

    def finish(self) -> Record | None:
        """The record under way, or None when it is left out (reported under ``on_error="skip"``)."""
        if self.dropped:
            return None
        try:
            rec = self._build()
        except FastaFormatError as exc:
            if not self.options.skipping:
                raise
            skip(self.options, Skipped(self.rid or "", f"{self.name}:{exc.line or self.header_line}", exc.reason))
            return None
        self.n_records += 1
        return rec

    def _build(self) -> Record:
        raw = "".join(self.chunks).encode("latin-1")
        upper = raw.translate(alphabet.UPPER, alphabet.WHITESPACE)
        if not upper:
            raise FastaFormatError(
                self.name, self.header_line, self.rid, "the record has no sequence",
                "remove the header or add its sequence",
            )
        seq = upper.translate(self.table)
        bad = alphabet.BAD_CHAR.search(seq)
        if bad is not None:
            line, col = _locate(self.chunks, self.chunk_lines, bad.start())
            byte = seq[bad.start()]
            problem = f"{alphabet.describe_char(byte)} in column {col}"
            raise FastaFormatError(self.name, line, self.rid, problem, alphabet.hint_for(byte))
        self.counts.add(upper, self.options)
        return Record(self.rid, seq.decode("ascii"), self.desc, f"{self.name}:{self.header_line}")  # type: ignore[arg-type]


def _parse_file(path: Path, options: InputOptions, name: str | None = None) -> Iterator[Record]:
    """The records of one FASTA file on disk (``name``: what messages call it, default ``path``)."""
    name = str(path) if name is None else name
    state = _Parser(name, options)
    lineno = 0
    try:
        with _open_text(path, name) as fh:
            opened = files.file_state(path)
            for lineno, line in enumerate(fh, 1):
                if not line.startswith(">"):
                    state.add(line, lineno)
                    continue
                if state.rid is not None and (rec := state.finish()) is not None:
                    yield rec
                state.start(line, lineno)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FastaFormatError(
            name, lineno or None, state.rid, f"the gzip data is truncated or corrupt ({exc})",
            "the file was probably cut short while copying; fetch it again",
        ) from None
    except OSError as exc:
        raise FastaFormatError(
            name, lineno or None, state.rid, f"read error ({exc.strerror or exc})", "check the file and the disk"
        ) from None
    files.check_unchanged(path, opened)
    if state.rid is None:
        raise FastaFormatError(name, None, None, "no FASTA records (the file is empty)", "check the path")
    if (rec := state.finish()) is not None:
        yield rec
    state.counts.log()
    logger.debug("%s: %d records", name, state.n_records)


def _decode_header(line: str) -> tuple[str, bool]:
    """The header text after '>' as UTF-8 (invalid bytes replaced), and whether it was valid UTF-8."""
    raw = line[1:].rstrip("\n").encode("latin-1")
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _parse_header(line: str, name: str, lineno: int) -> tuple[str, str]:
    """The id and the description of a header line (the id must be there; no binary data)."""
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
    """The id and the description of a header: split once on ASCII whitespace only (see ``alphabet.ASCII_SPACE``)."""
    text = header.strip(alphabet.ASCII_SPACE)
    return alphabet.ASCII_WORDS.split(text, 1) if text else []


def _locate(chunks: list[str], chunk_lines: list[int], pos: int) -> tuple[int, int]:
    """Line and 1-based column of base ``pos`` (after whitespace removal) in the record's sequence lines."""
    for chunk, line in zip(chunks, chunk_lines):
        stripped = [i for i, c in enumerate(chunk) if c not in " \t\v\f"]
        if pos < len(stripped):
            return line, stripped[pos] + 1
        pos -= len(stripped)
    return chunk_lines[-1], 1
