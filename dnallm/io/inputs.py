"""Inputs as the commands take them: several FASTA files read as one input, and one record picked by its id."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from dnallm.errors import DnallmError, InputError
from dnallm.io.fasta import read_fasta
from dnallm.io.options import InputOptions, Skipped
from dnallm.io.records import Record, skip


def chain_fasta(paths: Sequence[str | os.PathLike[str]], options: InputOptions) -> Iterator[Record]:
    """The records of several FASTA files in order, file by file, with an id repeated across files handled like
    one repeated within a file: an error naming both places, or under ``on_error="skip"`` reported as skipped
    (the first kept).

    Raises:
        InputError: a repeated id (``on_error="fail"``), or any error of the files themselves.
    """
    first: dict[str, str] = {}
    for path in paths:
        for rec in read_fasta(path, options=options):
            if rec.id in first:
                reason = f"duplicate id (first seen at {first[rec.id]}); ids must be unique across the inputs"
                if not options.skipping:
                    raise InputError(f"{rec.origin}: record '{rec.id}': {reason}")
                skip(options, Skipped(rec.id, rec.origin, reason))
                continue
            first[rec.id] = rec.origin
            yield rec


def find_record(path: str, record_id: str | None, options: InputOptions) -> Record:
    """The record ``record_id`` of a FASTA file, or its only record when ``record_id`` is None.

    Raises:
        DnallmError: no such id (naming the first ids there), or several records and no id.
    """
    records = read_fasta(path, options=options)
    if record_id is None:
        first = next(records)
        second = next(records, None)
        if second is not None:
            raise DnallmError(f"{path} holds several records ({first.id}, {second.id}, ...); choose one with --id")
        return first
    ids = []
    for rec in records:
        if rec.id == record_id:
            return rec
        ids.append(rec.id)
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    raise DnallmError(f"{path}: no record with id '{record_id}' (ids there: {shown})")
