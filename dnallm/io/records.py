"""Records, and the in-memory inputs that become records: lists, dicts, pandas Series and DataFrames, Records.

A record is ``(id, seq)`` with a description and the place it came from; the id travels with the data and
comes back with every result. FASTA files, streams and the dispatch over every input shape are in
:mod:`dnallm.io.fasta`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dnallm.errors import InputError, OptionError
from dnallm.io.alphabet import ASCII_SPACE, ReplacementCounts, clean
from dnallm.io.options import InputOptions, SkipCallback, Skipped

logger = logging.getLogger(__name__)

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".fas", ".seq")


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


def input_options(
    options: InputOptions | None, iupac: str, uracil: str, on_error: str, on_skip: SkipCallback | None
) -> InputOptions:
    """The policy of a reader called with ``options=`` or with the four keywords (not both).

    Raises:
        OptionError: a keyword is not a policy dnallm has, or both ``options`` and a keyword were given.
    """
    if options is None:
        return InputOptions(iupac=iupac, uracil=uracil, on_error=on_error, on_skip=on_skip)  # type: ignore[arg-type]
    given = [name for name, value, default in (("iupac", iupac, "n"), ("uracil", uracil, "t"),
                                               ("on_error", on_error, "fail"), ("on_skip", on_skip, None))
             if value != default]
    if given:
        raise OptionError(f"pass the input policy as options=InputOptions(...) or as keywords, not both "
                          f"(options= was given with {', '.join(given)})")
    if not isinstance(options, InputOptions):
        raise OptionError(f"options must be an InputOptions, not a {type(options).__name__}")
    return options


def skip(options: InputOptions, skipped: Skipped) -> None:
    """Leave a bad record out under ``on_error="skip"``: log it and hand it to ``options.report``."""
    logger.info("skipped record '%s': %s", skipped.id, skipped.reason)
    options.report(skipped)


def record_of(source: Record, options: InputOptions) -> Record:
    """A :class:`Record` given as the whole input, its sequence checked against the policy."""
    seq = clean(source.seq, options, f"record '{source.id}'")
    return Record(source.id, seq, source.description, source.origin)


def pandas_items(source: object) -> Iterator[tuple[str, object]] | None:
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


def from_items(items: Iterable, options: InputOptions) -> Iterator[Record]:
    """The records of in-memory items: sequences, ``(id, seq)`` pairs, Records or anything with ``.id`` and
    ``.seq``; a bad item stops the read or, under ``on_error="skip"``, is left out (named ``item i``)."""
    seen: dict[str, int] = {}
    counts = ReplacementCounts("input")
    n = 0
    for i, item in enumerate(items):
        try:
            rec, raw = _item_record(i, item, seen, options)
        except InputError as exc:
            if not options.skipping:
                raise
            rid = item[0] if isinstance(item, tuple) and len(item) == 2 else getattr(item, "id", "")
            skip(options, Skipped(str(rid) if rid is not None else "", f"item {i}", exc.reason))
            continue
        counts.add(raw.upper().encode("ascii"), options)
        n += 1
        yield rec
    if n == 0 and not options.skipping:
        raise InputError("no sequences given (the input is empty)")
    counts.log()


def _item_record(i: int, item: object, seen: dict[str, int], options: InputOptions) -> tuple[Record, str]:
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
    if not rid or any(c in ASCII_SPACE for c in rid):
        raise InputError.at(f"item {i}", f"id {rid!r} must be non-empty and without whitespace")
    if rid in seen:
        raise InputError.at(f"item {i}", f"duplicate id '{rid}' (first at item {seen[rid]}); ids must be unique")
    seen[rid] = i
    clean_seq = clean(seq, options, f"item {i} (id '{rid}')")
    return Record(rid, clean_seq, description, f"item {i}"), seq
