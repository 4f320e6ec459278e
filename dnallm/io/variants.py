"""VCF in and out, with cyvcf2 (htslib): the sites of a VCF one by one, and the same VCF written back with INFO
fields added.

:class:`VcfReader` opens ``.vcf``, ``.vcf.gz`` (bgzip, or plain gzip: it is read as a stream, no index needed)
or ``.bcf``, and refuses at once a file that is not a VCF, an empty file and a header without records. It yields
a :class:`Site` per record, or a :class:`BadLine` for a record htslib cannot parse (with its line number in the
decompressed text and what is wrong with it), and goes on after it.

:func:`write_annotated` writes the input's records again, in order, with one INFO field per score (declared in
``##INFO`` lines, ``Number=A``: one value per ALT, ``.`` where an ALT was not scored), bgzip-compressed for
``.vcf.gz``, whole or not at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnallm.errors import DnallmError
from dnallm.io.files import open_text

_INFO_ID = re.compile(r"[^0-9A-Za-z_.]")
MAX_POS = 2**31 - 1  # htslib keeps POS in 32 bits


def _cyvcf2():
    try:
        import cyvcf2
    except ImportError:
        raise DnallmError("reading a VCF needs cyvcf2, which is not installed; install it with: pip install "
                          "'dnallm[variants]'") from None
    cyvcf2.cyvcf2.set_htslib_log_level(0)  # its messages go to stderr, unattributed; ours name file and line
    return cyvcf2


@dataclass(frozen=True)
class Site:
    """One VCF record: ``pos`` is VCF's POS (1-based); ``index`` counts the records from 0, ``line`` is its line."""

    index: int
    line: int
    chrom: str
    pos: int
    id: str
    ref: str
    alts: tuple[str, ...]


@dataclass(frozen=True)
class BadLine:
    """A record htslib could not parse."""

    index: int
    line: int
    reason: str


def _problem(text: str | None) -> str | None:
    """What is wrong with a VCF record's text, or None. htslib parses some broken records without an error and
    then crashes the process when their fields are read (a record of two fields, a negative POS): every record's
    text is checked here before any of its fields is read."""
    if text is None:
        return "htslib could not parse this record (the file ends in the middle of it?)"
    if not text.strip():
        return "a blank line among the records"
    if text.startswith("#"):
        return "a header line after the #CHROM line, among the records"
    fields = text.rstrip("\r\n").split("\t")
    if len(fields) < 8:
        hint = " (fields separated by spaces, not tabs?)" if len(text.split()) >= 8 else ""
        plural = "s" if len(fields) != 1 else ""
        return (f"{len(fields)} tab-separated field{plural}; a VCF record has at least 8: CHROM POS ID REF ALT QUAL "
                f"FILTER INFO{hint}")
    if not fields[1].isdigit() or not fields[1].isascii() or int(fields[1]) == 0:
        return f"POS '{fields[1]}' is not a position (a whole number from 1)"
    if int(fields[1]) > MAX_POS:
        return f"POS {fields[1]} is beyond the largest position a VCF reader holds ({MAX_POS:,})"
    if not fields[0] or not fields[3]:
        return f"an empty {'CHROM' if not fields[0] else 'REF'} field"
    return None


class VcfReader:
    """The records of a VCF (see the module docstring); iterate it for :class:`Site` and :class:`BadLine`."""

    def __init__(self, path: str | Path):
        cyvcf2 = _cyvcf2()
        self.path = Path(path)
        if not self.path.is_file():
            raise DnallmError(f"{path}: no such VCF file")
        if self.path.stat().st_size == 0:
            raise DnallmError(f"{path}: empty file; a VCF starts with a header (##fileformat=VCFv4.x, then #CHROM ...)")
        try:
            self._vcf = cyvcf2.VCF(str(self.path), lazy=True)
        except OSError:
            raise DnallmError(f"{path}: not a VCF: htslib reads it neither as VCF nor as BCF (a VCF starts with "
                              "##fileformat=VCFv4.x, then a #CHROM line, then tab-separated records)") from None
        except Exception:  # noqa: BLE001 - cyvcf2 raises a bare Exception for a header htslib cannot parse
            raise DnallmError(f"{path}: htslib cannot parse its header (a VCF header is ##fileformat=VCFv4.x, "
                              "## lines, then the #CHROM POS ID REF ALT QUAL FILTER INFO line)") from None
        self.text = not is_bcf(self.path)

    def _lines(self) -> Iterator[tuple[int, str | None]]:
        """``(line number, text)`` of each record, in step with htslib's records (a BCF: no text)."""
        if not self.text:
            number = 0
            while True:
                number += 1
                yield number, None
        with open_text(self.path) as fh:
            number = 0
            for number, line in enumerate(fh, 1):  # noqa: B007 - the header's lines are counted too
                if line.startswith("#CHROM") or not line.startswith("#"):
                    break  # htslib's header ends at the #CHROM line: any line after it is a record
            if not line.startswith("#"):
                yield number, line
            for number, line in enumerate(fh, number + 1):
                yield number, line
            while True:
                yield number + 1, None

    def records(self) -> Iterator[tuple[int, int, Any, str | None]]:
        """``(index, line, cyvcf2 record, None)`` per record, or ``(index, line, None, problem)`` for one that
        cannot be used (its fields are never read)."""
        records, lines = iter(self._vcf), self._lines()
        self._line_iter = lines
        index = 0
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception:  # noqa: BLE001 - cyvcf2 raises a bare Exception for a record htslib refuses
                line, text = next(lines)
                problem = _problem(text) if self.text else None
                yield index, line, None, problem or "htslib could not parse this record"
            else:
                line, text = next(lines)
                problem = _problem(text) if self.text else None
                yield index, line, (rec if problem is None else None), problem
            index += 1
        if index == 0:
            raise DnallmError(f"{self.path}: a VCF header without variant records: nothing to score")

    def __iter__(self) -> Iterator[Site | BadLine]:
        for index, line, rec, problem in self.records():
            if rec is None:
                yield BadLine(index, line, problem)
            else:
                yield Site(index, line, rec.CHROM, rec.POS, rec.ID or ".", rec.REF, tuple(rec.ALT))

    def close(self) -> None:
        self._vcf.close()
        if getattr(self, "_line_iter", None) is not None:
            self._line_iter.close()


class SiteBlock:
    """Consecutive :class:`Site` s and :class:`BadLine` s already read from the VCF at ``path`` (how the driver
    of a Ray run hands a block of them to a worker); read like a :class:`VcfReader`."""

    def __init__(self, path: str | Path, items: list):
        self.path = Path(path)
        self.items = items

    def __iter__(self) -> Iterator[Site | BadLine]:
        return iter(self.items)

    def close(self) -> None:
        pass


def is_bcf(path: str | Path) -> bool:
    """Whether a file is BCF (binary), by its first bytes (``BCF`` after any gzip/BGZF layer)."""
    try:
        with open_text(Path(path)) as fh:
            return fh.read(3) == "BCF"
    except (OSError, EOFError, DnallmError):
        return False


def count_records(path: str | Path) -> int | None:
    """The records of a text VCF (its lines after the header), for a progress bar; None for BCF."""
    if is_bcf(path):
        return None
    with open_text(Path(path)) as fh:
        return sum(1 for line in fh if line.strip() and not line.startswith("#"))


def info_id(column: str) -> str:
    """The INFO key of a score column: ``DNALLM_`` + the column, characters VCF does not allow as ``_``."""
    return "DNALLM_" + _INFO_ID.sub("_", column)


def write_annotated(source: str | Path, output: str | Path, fields: Sequence[tuple[str, str]],
                    values: dict[int, dict[int, list[str]]], header: Sequence[str] = ()) -> None:
    """Write ``source``'s records to ``output`` with INFO ``fields`` (``(id, description)``, Float, Number=A).

    ``values[record index][alt index]`` holds the formatted values of one scored ALT, in ``fields`` order;
    ALTs without values get ``.``, records without any keep their INFO as it was. ``header``: extra ``##`` lines.
    ``.vcf.gz`` / ``.bgz`` is written bgzip-compressed. Written under ``OUTPUT.partial`` and renamed when whole.
    """
    cyvcf2 = _cyvcf2()
    output = Path(output)
    reader = VcfReader(source)
    vcf = reader._vcf
    for line in header:
        vcf.add_to_header(line)
    for key, description in fields:
        vcf.add_info_to_header({"ID": key, "Description": description, "Type": "Float", "Number": "A"})
    tmp = output.with_name(output.name + ".partial")
    compressed = output.name.lower().endswith((".gz", ".bgz"))
    writer = cyvcf2.Writer(str(tmp), vcf, mode="wz" if compressed else "w")
    try:
        for index, _, rec, _ in reader.records():
            if rec is None:  # a record that cannot be used (listed as skipped) cannot be written either
                continue
            scored = values.get(index)
            if scored:
                for j, (key, _) in enumerate(fields):
                    # a string: htslib writes it as it is and readers parse it by the header's Float type
                    rec.INFO[key] = ",".join(scored[a][j] if a in scored else "." for a in range(len(rec.ALT)))
            writer.write_record(rec)
        writer.close()
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    os.replace(tmp, output)
