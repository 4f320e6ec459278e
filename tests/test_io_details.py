"""Input and output details: byte-order marks, what counts as whitespace, binary file objects, standard input
(``-``), pandas input, headers of empty outputs, the skipped-records file's quoting, suffix case, gzip outputs
and full disks."""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnallm
import dnallm.runner
from dnallm import FastaFormatError, InputError, iter_records, read_fasta, testing
from dnallm.cli import main
from dnallm.io.writers import ResultWriter, read_npz, read_results
from tests.support import run_dnallm

BOM = b"\xef\xbb\xbf"
RECORDS = testing.genome_windows(6, 40, 120, seed=3, prefix="r")
FASTA = "".join(f">{rid} some description\n{seq}\n" for rid, seq in RECORDS).encode()


@pytest.fixture(scope="module")
def bert_dir(model_dirs):
    return str(model_dirs["overlapping_kmer"])


@pytest.fixture(scope="module")
def bert(bert_dir):
    return dnallm.DNAInference(bert_dir)


def _pairs(records) -> list[tuple[str, str]]:
    return [(r.id, r.seq) for r in records]


class _Stdin:
    """Standard input as a process gets it from a file or a pipe: a text stream over a binary buffer."""

    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


# ---------------------------------------------------------------------------------------------------------------
# 15. a UTF-8 byte-order mark


def test_a_byte_order_mark_is_dropped_in_plain_gzip_and_stdin(tmp_path, bert, bert_dir, monkeypatch, capsys):
    plain = tmp_path / "bom.fa"
    plain.write_bytes(BOM + FASTA)
    packed = tmp_path / "bom.fa.gz"
    packed.write_bytes(gzip.compress(BOM + FASTA))
    expected = [(rid, seq.upper()) for rid, seq in RECORDS]
    assert _pairs(read_fasta(plain)) == expected
    assert _pairs(read_fasta(packed)) == expected
    assert _pairs(iter_records(io.BytesIO(BOM + FASTA))) == expected
    assert _pairs(iter_records(io.StringIO((BOM + FASTA).decode("utf-8")))) == expected  # U+FEFF in text
    assert dnallm.io.fasta.count_records(str(plain)) == len(RECORDS)  # the progress bar's total
    # the first record's id is read whole: a repeat of it is still found, on line 1
    (tmp_path / "dup.fa").write_bytes(BOM + FASTA + f">{RECORDS[0][0]}\nACGTACGT\n".encode())
    with pytest.raises(FastaFormatError, match="duplicate id \\(first seen on line 1\\)"):
        list(read_fasta(tmp_path / "dup.fa"))
    # standard input, through the command
    monkeypatch.setattr(sys, "stdin", _Stdin(gzip.compress(BOM + FASTA)))
    out = tmp_path / "stdin.tsv"
    assert main(["predict", "-", "-m", bert_dir, "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    rows = read_results(out)
    direct = bert.predict(RECORDS)
    assert list(rows["id"]) == [rid for rid, _ in RECORDS]
    assert np.abs(rows[bert.output_columns].to_numpy() - direct[bert.output_columns].to_numpy()).max() < 1e-6


# ---------------------------------------------------------------------------------------------------------------
# 17. one whitespace rule: ASCII only


@pytest.mark.parametrize("byte", [0x85, 0x1C, 0x1D, 0x1E, 0x1F, 0xA0])
def test_a_line_of_non_ascii_space_is_an_error_like_the_byte_inside_a_line(tmp_path, byte):
    seq = RECORDS[0][1]
    alone = tmp_path / "alone.fa"
    alone.write_bytes(b">a\n" + seq.encode() + b"\n" + bytes([byte]) + b"\n" + seq.encode() + b"\n")
    inside = tmp_path / "inside.fa"
    inside.write_bytes(b">a\n" + seq.encode() + bytes([byte]) + b"\n")
    with pytest.raises(FastaFormatError) as one:
        list(read_fasta(alone))
    assert one.value.line == 3 and f"byte 0x{byte:02x} in column 1" in str(one.value)
    with pytest.raises(FastaFormatError) as two:
        list(read_fasta(inside))
    assert two.value.line == 2 and f"byte 0x{byte:02x} in column {len(seq) + 1}" in str(two.value)


def test_lines_of_ascii_whitespace_are_blank(tmp_path):
    path = tmp_path / "blank.fa"
    path.write_bytes(b">a\nACGTAC\n \t\x0b\x0c\r\nGGTTAA\n\n>b\nCCCCCC\n")
    assert _pairs(read_fasta(path)) == [("a", "ACGTACGGTTAA"), ("b", "CCCCCC")]


def test_ids_are_split_on_ascii_whitespace_only(tmp_path):
    path = tmp_path / "ids.fa"
    path.write_bytes(">a\u00a0b nbsp inside\nACGT\n>c\u2028d\tline separator inside\nACGT\n>e\x0bf v\nACGT\n"
                     .encode("utf-8"))
    recs = list(read_fasta(path))
    assert [r.id for r in recs] == ["a\u00a0b", "c\u2028d", "e"]
    assert [r.description for r in recs] == ["nbsp inside", "line separator inside", "f v"]
    # in memory, the same rule: a no-break space is part of an id, an ASCII space is refused
    assert [r.id for r in iter_records({"a\u00a0b": "ACGT"})] == ["a\u00a0b"]
    with pytest.raises(InputError, match="without whitespace"):
        list(iter_records({"a b": "ACGT"}))


# ---------------------------------------------------------------------------------------------------------------
# 14. binary file objects; 16. '-' is standard input


def test_binary_file_objects_are_read_plain_and_gzip(tmp_path, bert):
    path = tmp_path / "x.fa"
    path.write_bytes(FASTA)
    expected = bert.predict(str(path))
    for source in (io.BytesIO(FASTA), io.BytesIO(gzip.compress(FASTA)), open(path, "rb")):
        with contextlib.closing(source):
            got = bert.predict(source)
        assert list(got["id"]) == list(expected["id"])
        assert np.array_equal(got[bert.output_columns].to_numpy(), expected[bert.output_columns].to_numpy())
    with pytest.raises(FastaFormatError, match="<stream>:2 \\(record 'a'\\): alignment gap"):
        bert.predict(io.BytesIO(b">a\nAC-GTACGT\n"))


def test_dash_reads_fasta_from_standard_input_of_the_installed_command(tmp_path, bert_dir, bert):
    """A real process: `dnallm predict - < x.fa.gz`, as `cat`, `samtools` and `seqkit` take '-'."""
    packed = tmp_path / "x.fa.gz"
    packed.write_bytes(gzip.compress(FASTA))
    with open(packed, "rb") as stdin:
        result = run_dnallm("predict", "-", "-m", bert_dir, "-q", stdin=stdin, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(io.StringIO(result.stdout), sep="\t", dtype={"id": str})
    direct = bert.predict(RECORDS)
    assert list(rows["id"]) == [rid for rid, _ in RECORDS]
    assert np.abs(rows[bert.output_columns].to_numpy() - direct[bert.output_columns].to_numpy()).max() < 1e-6


def test_dash_errors_name_stdin_and_a_terminal_is_refused(tmp_path, bert_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", _Stdin(b">a\nACGTACGT\n>a\nACGTACGT\n"))
    assert main(["validate", "-"]) == 2
    assert "dnallm: error: <stdin>:3 (record 'a'): duplicate id (first seen on line 1)" in capsys.readouterr().err

    class Terminal(_Stdin):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(b""))
    assert main(["predict", "-", "-m", bert_dir, "-q"]) == 2
    assert "-: standard input is a terminal; pipe or redirect FASTA into it" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# 21. pandas input


def test_a_series_keeps_its_index_as_ids_and_a_dataframe_needs_id_and_seq(bert):
    ids = [rid for rid, _ in RECORDS]
    seqs = [seq for _, seq in RECORDS]
    expected = bert.predict(RECORDS)
    series = bert.predict(pd.Series(seqs, index=ids))
    frame = bert.predict(pd.DataFrame({"id": ids, "seq": seqs, "other": range(len(ids))}))
    named = bert.predict(pd.DataFrame({"sequence": seqs, "id": ids}))
    for got in (series, frame, named):
        assert list(got["id"]) == ids
        assert np.array_equal(got[bert.output_columns].to_numpy(), expected[bert.output_columns].to_numpy())
    with pytest.raises(InputError, match="a DataFrame needs an 'id' and a 'seq' \\(or 'sequence'\\) column; "
                                         "this one has 'name', 'dna'"):
        bert.predict(pd.DataFrame({"name": ids, "dna": seqs}))
    with pytest.raises(InputError, match="item 1 \\(id 'r1'\\): the sequence is a float"):
        bert.predict(pd.Series([seqs[0], np.nan], index=ids[:2]))


# ---------------------------------------------------------------------------------------------------------------
# 18. empty outputs keep their header; 19. the skipped list is quoted like the results


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl", ".parquet", ".tsv.gz"])
def test_every_record_skipped_still_writes_a_readable_file(tmp_path, bert, bert_dir, capsys, suffix):
    path = tmp_path / "bad.fa"
    path.write_bytes(b">a\nAC-GTACGT\n>b\nACG\n")
    out = tmp_path / f"out{suffix}"
    assert main(["predict", str(path), "-m", bert_dir, "-o", str(out), "-q", "--on-error", "skip"]) == 0
    capsys.readouterr()
    columns = ["id", "length", "n_windows", *bert.output_columns]
    if suffix == ".jsonl":  # zero records: an empty file is valid JSON Lines (documented)
        assert out.read_bytes() == b"" and read_results(out).empty
        return
    rows = read_results(out)
    assert list(rows.columns) == columns and len(rows) == 0


def test_every_record_skipped_to_stdout_and_in_embed_and_per_window(tmp_path, bert, bert_dir, capsys):
    path = tmp_path / "bad.fa"
    path.write_bytes(b">a\nAC-GTACGT\n")
    assert main(["predict", str(path), "-m", bert_dir, "-q", "--on-error", "skip", "--per-window"]) == 0
    assert capsys.readouterr().out == "\t".join(["id", "length", "n_windows", "window", "start", "end",
                                                 *bert.output_columns]) + "\n"
    out = tmp_path / "e.csv"
    assert main(["embed", str(path), "-m", bert_dir, "-o", str(out), "-q", "--on-error", "skip"]) == 0
    hidden = bert.model.config.hidden_size
    assert list(read_results(out).columns) == ["id", "length", "n_windows"] + [f"dim_{i}" for i in range(hidden)]


def test_motifs_without_a_motif_still_writes_the_table_header(tmp_path, bert_dir, capsys):
    rng = np.random.default_rng(0)
    for name in ("pos.fa", "bg.fa"):
        with open(tmp_path / name, "w") as fh:
            for i in range(6):
                fh.write(f">{name[:2]}{i}\n{''.join(rng.choice(list('ACGT'), 80))}\n")
    out = tmp_path / "motifs"
    code = main(["motifs", str(tmp_path / "pos.fa"), "--background", str(tmp_path / "bg.fa"), "-m", bert_dir,
                 "-o", str(out), "-q", "--jaspar", str(_empty_jaspar(tmp_path))])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert len(table) == 0
    assert list(table.columns)[:5] == ["rank", "motif", "consensus", "width", "instances"]


def _empty_jaspar(folder: Path) -> Path:
    path = folder / "one.jaspar"
    path.write_text(">MA0000.1 X\nA [ 1 0 0 0 ]\nC [ 0 1 0 0 ]\nG [ 0 0 1 0 ]\nT [ 0 0 0 1 ]\n")
    return path


def test_the_skipped_list_reads_back_exactly(tmp_path, bert_dir, capsys):
    folder = tmp_path / "run\tfolder"  # a tab in the path: the `where` column must not split
    folder.mkdir()
    path = folder / "in.fa"
    ids = ['"x"', 'a"b', "c,d", "NA"]
    path.write_text("".join(f">{rid}\nAC-GTACGT\n" for rid in ids) + f">ok\n{RECORDS[0][1]}\n")
    out = folder / "out.tsv"
    assert main(["predict", str(path), "-m", bert_dir, "-o", str(out), "-q", "--on-error", "skip"]) == 0
    capsys.readouterr()
    skipped = pd.read_csv(f"{out}.skipped.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(skipped.columns) == ["id", "where", "reason"]
    assert list(skipped["id"]) == ids
    assert list(skipped["where"]) == [f"{path}:{2 * i + 2}" for i in range(len(ids))]
    assert all(reason.startswith("alignment gap '-' in column 3") for reason in skipped["reason"])


# ---------------------------------------------------------------------------------------------------------------
# 20. suffixes in any case; 24. gzip-compressed text outputs


def test_suffixes_are_case_insensitive(tmp_path, bert, bert_dir, capsys):
    path = tmp_path / "x.fa"
    path.write_bytes(FASTA)
    assert main(["embed", str(path), "-m", bert_dir, "-o", str(tmp_path / "E.NPZ"), "-q"]) == 0
    saved_ids, saved = read_npz(tmp_path / "E.NPZ")
    ids, emb = bert.embed(str(path))
    assert saved_ids == ids and np.array_equal(saved, emb)
    for name in ("P.TSV", "P.Csv", "P.JSONL", "P.Parquet", "P.TSV.GZ"):
        assert main(["predict", str(path), "-m", bert_dir, "-o", str(tmp_path / name), "-q"]) == 0, name
        assert list(read_results(tmp_path / name)["id"]) == [rid for rid, _ in RECORDS], name
    capsys.readouterr()


@pytest.mark.parametrize("suffix", [".tsv.gz", ".csv.gz", ".jsonl.gz"])
def test_gzip_outputs_hold_the_same_rows(tmp_path, bert, bert_dir, capsys, suffix):
    path = tmp_path / "x.fa"
    path.write_bytes(FASTA)
    plain, packed = tmp_path / f"p{suffix[:-3]}", tmp_path / f"p{suffix}"
    for out in (plain, packed):
        assert main(["predict", str(path), "-m", bert_dir, "-o", str(out), "-q"]) == 0
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.fa", plain.name, packed.name])
    code = main(["predict", str(path), "-m", bert_dir, "-o", str(packed), "-q", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "--resume works with uncompressed output" in err and "not .gz" in err
    for bad in ("p.parquet.gz", "p.npz.gz"):
        assert main(["predict", str(path), "-m", bert_dir, "-o", str(tmp_path / bad), "-q"]) == 2
    assert "Parquet is compressed already" in capsys.readouterr().err


def test_an_interrupted_gzip_output_leaves_nothing_and_promises_no_resume(tmp_path, bert, bert_dir, monkeypatch,
                                                                         capsys):
    path = tmp_path / "x.fa"
    path.write_bytes(FASTA + b">bad\nAC-GTACGT\n")
    monkeypatch.setattr(dnallm.runner.Runner, "chunk_batches", 1)  # several chunks: rows are written before
    out = tmp_path / "p.tsv.gz"
    code = main(["predict", str(path), "-m", bert_dir, "-o", str(out), "-q", "--max-batch-tokens", "64"])
    err = capsys.readouterr().err
    assert code == 2 and "alignment gap" in err and "--resume" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fa"]


# ---------------------------------------------------------------------------------------------------------------
# 12. no space left on device


@contextlib.contextmanager
def _tiny_disk(folder: Path, size: str = "64k"):
    """A 64 kB tmpfs at ``folder`` (root with CAP_SYS_ADMIN); None where mounting is not allowed."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


class _FullAfter:
    """A file whose disk fills after ``room`` bytes (for machines where no tmpfs can be mounted)."""

    def __init__(self, handle, room: int):
        self._handle, self._room = handle, room

    def write(self, text):
        self._room -= len(text)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._handle.write(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


def test_a_full_disk_under_the_output_says_so_and_resume_continues(tmp_path, bert, bert_dir, monkeypatch, capsys):
    records = testing.genome_windows(1500, 30, 60, seed=5, prefix="w")
    path = tmp_path / "many.fa"
    testing.write_fasta(path, records)
    monkeypatch.setattr(dnallm.runner.Runner, "chunk_batches", 1)  # many chunks, so that some reach the disk
    with _tiny_disk(tmp_path / "disk", "24k") as disk:
        folder = disk if disk is not None else tmp_path / "disk"
        out = folder / "out.tsv"
        if disk is None:
            opened = ResultWriter._text_handle

            def full(self):
                if self._handle is None:
                    opened(self)
                    self._handle = _FullAfter(self._handle, 24_000)
                return self._handle

            monkeypatch.setattr(ResultWriter, "_text_handle", full)
        argv = ["predict", str(path), "-m", bert_dir, "-o", str(out), "-q", "--max-batch-tokens", "512"]
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"dnallm: error: {out}.partial: no space left on device writing the results")
        assert "rows kept in" in lines[0] and "add --resume to continue" in lines[0]
        assert not out.exists()
        if disk is not None:
            subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        else:
            monkeypatch.setattr(ResultWriter, "_text_handle", opened)
        assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
        rows = read_results(out)
    direct = bert.predict(records)
    assert list(rows["id"]) == [rid for rid, _ in records]  # every record once, in order
    assert np.abs(rows[bert.output_columns].to_numpy() - direct[bert.output_columns].to_numpy()).max() < 1e-5


def test_a_full_standard_output_is_one_line(tmp_path, bert_dir):
    """A real process writing to /dev/full: one line, exit code 2, and no second error at the interpreter's exit."""
    path = tmp_path / "x.fa"
    path.write_bytes(FASTA)
    with open("/dev/full", "w") as full:
        result = run_dnallm("predict", str(path), "-m", bert_dir, "-q", stdout=full, stderr=subprocess.PIPE,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dnallm: error: standard output: no space left on device (the disk or device that standard output goes "
        "to is full); free space there, or write to a file with -o FILE (which --resume can continue)"
    ]


def test_a_full_temporary_folder_while_spooling_a_stream(tmp_path, bert, monkeypatch):
    big = "".join(f">s{i}\n{'ACGT' * 50}\n" for i in range(600)).encode()  # 130 kB: more than the 64 kB disk
    with _tiny_disk(tmp_path / "tmp") as disk:
        if disk is not None:
            monkeypatch.setattr(tempfile, "tempdir", str(disk))
        else:
            real_open = open

            def full_open(file, mode="r", *args, **kwargs):
                handle = real_open(file, mode, *args, **kwargs)
                return _FullAfter(handle, 64_000) if "w" in mode and str(file).startswith(tempfile.gettempdir()) \
                    else handle

            monkeypatch.setattr("builtins.open", full_open)
        with pytest.raises(InputError) as info:
            bert.predict(io.BytesIO(big))
    message = str(info.value)
    assert message.startswith("<stream>: no space left on device copying this input to the temporary folder")
    assert "point TMPDIR to a folder with room" in message
