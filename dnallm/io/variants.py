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

import gzip
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dnallm.errors import DnallmError
from dnallm.io.genome import INSTALL

_INFO_ID = re.compile(r"[^0-9A-Za-z_.]")


def _cyvcf2():
    try:
        import cyvcf2
    except ImportError:
        raise DnallmError(f"reading a VCF needs cyvcf2, which is not installed; install it with: {INSTALL}") from None
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


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", errors="replace") if gz else open(path, errors="replace")


def _diagnose(text: str | None) -> str:
    """What is wrong with a VCF record htslib refused."""
    if text is None:
        return "htslib could not parse this record (the file ends in the middle of it?)"
    fields = text.rstrip("\r\n").split("\t")
    if len(fields) < 8:
        hint = " (fields separated by spaces, not tabs?)" if len(text.split()) >= 8 else ""
        return (f"{len(fields)} tab-separated fields; a VCF record has at least 8: CHROM POS ID REF ALT QUAL FILTER "
                f"INFO{hint}")
    if not fields[1].isdigit():
        return f"POS '{fields[1]}' is not a whole number"
    shown = text.strip()
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return f"htslib could not parse this record: {shown}"


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
        self.header_lines = self._count_header()
        self._raw: IO[str] | None = None
        self._raw_line = 0

    def _count_header(self) -> int:
        if self.path.suffix.lower() == ".bcf":
            return 0
        n = 0
        with _open_text(self.path) as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                n += 1
        return n

    def _text_of(self, line: int) -> str | None:
        """Line ``line`` of the decompressed text (read forward, only when a record is refused)."""
        if self.path.suffix.lower() == ".bcf":
            return None
        if self._raw is None or line <= self._raw_line:
            self._raw, self._raw_line = _open_text(self.path), 0
        text = None
        while self._raw_line < line:
            text = self._raw.readline()
            self._raw_line += 1
            if not text:
                return None
        return text

    def __iter__(self) -> Iterator[Site | BadLine]:
        records = iter(self._vcf)
        index = 0
        while True:
            line = self.header_lines + index + 1
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception:  # noqa: BLE001 - cyvcf2 raises a bare Exception for a record htslib refuses
                yield BadLine(index, line, _diagnose(self._text_of(line)))
            else:
                yield Site(index, line, rec.CHROM, rec.POS, rec.ID or ".", rec.REF, tuple(rec.ALT))
            index += 1
        if index == 0:
            raise DnallmError(f"{self.path}: a VCF header without variant records: nothing to score")

    def close(self) -> None:
        self._vcf.close()
        if self._raw is not None:
            self._raw.close()


def count_records(path: str | Path) -> int | None:
    """The records of a text VCF (its lines after the header), for a progress bar; None for BCF."""
    if Path(path).suffix.lower() == ".bcf":
        return None
    with _open_text(Path(path)) as fh:
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
    vcf = cyvcf2.VCF(str(source), lazy=True)
    for line in header:
        vcf.add_to_header(line)
    for key, description in fields:
        vcf.add_info_to_header({"ID": key, "Description": description, "Type": "Float", "Number": "A"})
    tmp = output.with_name(output.name + ".partial")
    compressed = output.name.lower().endswith((".gz", ".bgz"))
    writer = cyvcf2.Writer(str(tmp), vcf, mode="wz" if compressed else "w")
    try:
        records, index = iter(vcf), 0
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception:  # noqa: BLE001 - a record htslib refuses (listed as skipped): it cannot be written
                index += 1
                continue
            scored = values.get(index)
            if scored:
                for j, (key, _) in enumerate(fields):
                    # a string: htslib writes it as it is and readers parse it by the header's Float type
                    rec.INFO[key] = ",".join(scored[a][j] if a in scored else "." for a in range(len(rec.ALT)))
            writer.write_record(rec)
            index += 1
        writer.close()
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        vcf.close()
    os.replace(tmp, output)
