"""Input files on disk: the checks before one is read, opening it (gzip, BOM), telling that it changed while it
was read, counting its records for a progress bar, and copying a stream that can be read only once to a
temporary file (which the FASTA parser then reads like any file).
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dnallm.errors import FastaFormatError, InputError

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, which some Windows editors write at the start of a file

_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}

FileState = tuple[int, int, int, int]


def check_path(path: Path) -> None:
    """Fail, naming ``path``, when it is missing, a directory or not readable by this user.

    Raises:
        InputError: with what to do.
    """
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


def open_text(path: Path, name: str | None = None) -> IO[str]:
    """Open a plain or gzip FASTA file as text with universal newlines, one character per byte.

    Args:
        path: the file.
        name: what messages call it (default ``path``; the input's name when ``path`` is a spooled copy).

    Raises:
        FastaFormatError: the file is compressed otherwise than with gzip, or named ``.gz`` but not gzip.
    """
    name = str(path) if name is None else name
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:2] == b"\x1f\x8b":
        binary: IO[bytes] = gzip.open(path, "rb")
    else:
        for magic, kind in _MAGIC.items():
            if head.startswith(magic):
                raise FastaFormatError(
                    name, None, None, f"the file is {kind}-compressed",
                    "decompress it first, or recompress it with gzip or bgzip",
                )
        if path.suffix.lower() == ".gz":
            raise FastaFormatError(
                name, None, None, "the name ends in .gz but the content is not gzip-compressed",
                "rename the file without .gz, or compress it with gzip",
            )
        binary = open(path, "rb")
    if binary.read(3) != BOM:  # a UTF-8 byte-order mark at the start is dropped (plain and gzip alike)
        binary.seek(0)
    # latin-1 maps every byte to one character, so nothing fails to decode here; headers are re-decoded as
    # UTF-8 by the parser and sequence characters are checked against the DNA alphabet.
    return io.TextIOWrapper(binary, encoding="latin-1", newline=None)


def file_state(path: Path) -> FileState:
    """What tells that a file changed: (device, inode, size in bytes, mtime in ns) of what ``path`` names now."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def check_unchanged(path: Path, opened: FileState) -> None:
    """At the end of the file: fail if ``path`` was replaced (mv), appended to or rewritten while it was read,
    so that no run writes rows from two versions of one input.

    Raises:
        InputError: saying what changed.
    """
    try:
        now = file_state(path)
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
            if fh.read(3) != BOM:
                fh.seek(0)
            while block := fh.read(1 << 22):
                data = previous + block
                count += data.count(b"\n>") + data.count(b"\r>")
                previous = block[-1:]
    except (OSError, EOFError, zlib.error):
        return None
    return count


@contextmanager
def spooled(copy: Callable[[Any], None], mode: str, name: str) -> Iterator[Path]:
    """A temporary file filled by ``copy(handle)`` (``mode`` ``"wb"`` or ``"w"``), removed on exit; a name
    ending in ``.gz`` keeps its suffix, so that the parser expects gzip as it would of the input itself.

    Raises:
        InputError: the temporary folder has no room for the copy (naming ``name`` and the folder).
    """
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
        yield spool


def pipe_copier(path: Path) -> Callable[[IO[bytes]], None]:
    """What copies the bytes of a pipe (or other file that is not regular) to a spool."""

    def copy(out: IO[bytes]) -> None:
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, out, 1 << 20)

    return copy


def stream_copier(handle: IO) -> tuple[Callable[[IO], None], str]:
    """What copies an open file object to a spool, and the spool's mode: ``"wb"`` for a binary handle, ``"w"``
    for a text one (told by what its ``read`` returns; the first block is read now).

    Raises:
        InputError: ``read`` returns neither text nor bytes.
    """
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

    return copy, "wb" if binary else "w"


def stdin_bytes() -> IO:
    """Standard input, as bytes where it has them, to read FASTA from.

    Raises:
        InputError: there is no standard input, or it is a terminal.
    """
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
    return getattr(stream, "buffer", stream)
