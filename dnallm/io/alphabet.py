"""The alphabet policy: what dnallm makes of each character of a sequence (the table is in :mod:`dnallm.io.fasta`).

Upper case ``A C G T N`` is kept; lower case is upper-cased; IUPAC ambiguity codes become ``N`` under
``iupac="n"`` and ``U`` becomes ``T`` under ``uracil="t"`` (both counted in one warning per input); anything else
is an error that names the character. Only ASCII whitespace separates words or makes a line blank.
"""

from __future__ import annotations

import logging
import re

from dnallm.errors import InputError
from dnallm.io.options import IUPAC_POLICIES, URACIL_POLICIES, InputOptions, IupacPolicy, UracilPolicy

logger = logging.getLogger(__name__)

_IUPAC = b"RYSWKMBDHV"


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


#: the translation table of each (iupac, uracil) policy
TABLES = {(i, u): _table(i, u) for i in IUPAC_POLICIES for u in URACIL_POLICIES}
#: upper case only (the raw sequence before the policy, for the replacement counts)
UPPER = _table("error", "error")
#: whitespace removed from sequence lines (line ends are removed before)
WHITESPACE = b" \t\v\f"
# Only ASCII whitespace counts as blank or separates words (a blank line, the id from the description). Other
# bytes that Python's str.strip() and str.split() would take for spaces or line ends (0x85, 0x1c-0x1f, 0xa0, and in
# headers U+00A0 and U+2028) are characters like any other: part of an id, an error in a sequence.
ASCII_SPACE = " \t\r\n\v\f"
ASCII_WORDS = re.compile(r"[ \t\r\n\v\f]+")
BAD_CHAR = re.compile(rb"[^ACGTN]")
_DNA_HINT = "a DNA sequence may hold A C G T N (any case) and IUPAC ambiguity codes"


def describe_char(byte: int) -> str:
    """A character outside the policy, as a message names it (``IUPAC ambiguity code 'R'``, ``byte 0x00``)."""
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


def hint_for(byte: int) -> str:
    """What to do about a character outside the policy."""
    char = chr(byte)
    if char in "RYSWKMBDHV":
        return "iupac='error' rejects ambiguity codes; the default iupac='n' reads them as N"
    if char == "U":
        return "uracil='error' rejects U; the default uracil='t' reads it as T"
    if char in "-.":
        return "remove alignment gaps; dnallm reads unaligned DNA"
    return _DNA_HINT


class ReplacementCounts:
    """Counts of replaced characters in one input, logged once when the input is exhausted.

    Args:
        name: the input, as the warning names it (a file name, or ``"input"``).
    """

    def __init__(self, name: str):
        self.name = name
        self.iupac_bases = 0
        self.iupac_records = 0
        self.uracil_bases = 0
        self.uracil_records = 0

    def add(self, raw_upper: bytes, options: InputOptions) -> None:
        """Count the replacements in one record's upper-cased raw sequence."""
        if options.iupac == "n":
            n = sum(raw_upper.count(c) for c in _IUPAC)
            if n:
                self.iupac_bases += n
                self.iupac_records += 1
        if options.uracil == "t":
            n = raw_upper.count(b"U")
            if n:
                self.uracil_bases += n
                self.uracil_records += 1

    def log(self) -> None:
        """One warning per kind of replacement that happened."""
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
    """Apply the alphabet policy to one in-memory sequence; see :mod:`dnallm.io.fasta`.

    Raises:
        OptionError: ``iupac`` or ``uracil`` is not a policy dnallm has.
        InputError: naming ``where`` and the first offending character and its 0-based bp position.
    """
    return clean(raw, InputOptions(iupac=iupac, uracil=uracil), where)


def clean(raw: str, options: InputOptions, where: str) -> str:
    """:func:`clean_sequence` under a policy checked already."""
    try:
        data = raw.encode("ascii")
    except UnicodeEncodeError as exc:
        problem = f"non-ASCII character {raw[exc.start]!r} at position {exc.start}; {_DNA_HINT}"
        raise InputError.at(where, problem) from None
    data = data.translate(TABLES[(options.iupac, options.uracil)], WHITESPACE + b"\r\n")
    bad = BAD_CHAR.search(data)
    if bad is not None:
        byte = data[bad.start()]
        raise InputError.at(where, f"{describe_char(byte)} at position {bad.start()}; {hint_for(byte)}")
    if not data:
        raise InputError.at(where, "empty sequence; every record needs at least one base")
    return data.decode("ascii")
