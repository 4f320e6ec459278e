"""The list of records left out under ``on_error="skip"``: a TSV of id, where, reason, written as they come
into ``FILE.partial`` and renamed to ``FILE`` when the run completes (or printed to stderr without a file)."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import IO

from dnallm.errors import DnallmError
from dnallm.io.options import Skipped


def skip_list_path(output: str | None, skipped: str | None) -> str | None:
    """Where the skipped records go: ``skipped`` if given, else ``OUTPUT.skipped.tsv`` beside a file output;
    None for stderr (the results go to standard output)."""
    if skipped is not None:
        return skipped
    if output not in (None, "-"):
        return f"{output}.skipped.tsv"
    return None


def tsv_writer(handle: IO[str]):
    """A csv writer with the quoting of the result files (pandas' to_csv): a field holding a tab, a quote or a
    line end is quoted, quotes doubled, so that pandas reads every field back as it was."""
    return csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


class SkipLog:
    """An ``on_skip`` callback that lists each skipped record, and counts them.

    Args:
        path: the TSV to write (header ``id where reason``), or None to print one line per record to stderr.

    Raises:
        DnallmError: the folder of ``path`` does not exist.
    """

    def __init__(self, path: str | Path | None):
        self.count = 0
        self.path = None if path is None else Path(path)
        self._handle: IO[str] | None = None
        if self.path is None:
            return
        if not self.path.parent.is_dir():
            raise DnallmError(f"{self.path}: the folder {self.path.parent} does not exist")
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._handle = open(self._tmp, "w", encoding="utf-8", newline="")
        self._writer = tsv_writer(self._handle)
        self._writer.writerow(["id", "where", "reason"])

    def __call__(self, skipped: Skipped) -> None:
        self.count += 1
        reason = " ".join(skipped.reason.split())  # one line in the TSV
        if self._handle is not None:
            self._writer.writerow([skipped.id, skipped.where, reason])  # quoted as the results are
            self._handle.flush()
        else:
            print(f"dnallm: skipped '{skipped.id}' ({skipped.where}): {reason}", file=sys.stderr)

    def finish(self) -> None:
        """The run is complete: the list goes to its name."""
        if self._handle is not None:
            self._handle.close()
            os.replace(self._tmp, self.path)

    def drop(self) -> None:
        """The run failed: no list is left."""
        if self._handle is not None:
            self._handle.close()
            self._tmp.unlink(missing_ok=True)
