"""FASTA reading and the other input shapes: records, the alphabet policy, and errors that name the place."""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnallm import FastaFormatError, InputError, Record, iter_records, read_fasta


def write(tmp_path, name: str, content: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def records(path, **kw):
    return [(r.id, r.seq) for r in read_fasta(path, **kw)]


# ---------------------------------------------------------------------------------------------------------------
# real files


def test_real_peaks_file(data_dir):
    recs = list(read_fasta(data_dir / "oct4_test.fa"))
    assert len(recs) == 100
    assert all(len(r) == 200 for r in recs)
    assert recs[0].id == "chr4:126246986-126247186"
    assert recs[0].origin.endswith("oct4_test.fa:1")
    # the file is lower case (soft-masked): the reader upper-cases, base for base
    raw = (data_dir / "oct4_test.fa").read_text().splitlines()[1]
    assert recs[0].seq == raw.upper()


def test_real_gzip_genome(data_dir):
    (rec,) = read_fasta(data_dir / "lambda_phage.fa.gz")
    assert rec.id == "gi|9626243|ref|NC_001416.1|"
    assert rec.description == "Enterobacteria phage lambda, complete genome"
    assert len(rec) == 48502
    with gzip.open(data_dir / "lambda_phage.fa.gz", "rt") as fh:
        expected = "".join(line.strip() for line in fh if not line.startswith(">"))
    assert rec.seq == expected


def test_bgzip_is_read(tmp_path, data_dir):
    from Bio import bgzf

    path = tmp_path / "phix.fa.gz"
    with bgzf.BgzfWriter(str(path)) as out:
        out.write((data_dir / "phiX174.fa").read_bytes())
    assert records(path) == records(data_dir / "phiX174.fa")
    assert len(records(path)[0][1]) == 5386


# ---------------------------------------------------------------------------------------------------------------
# format variants that are fine


def test_multiline_crlf_cr_blank_lines_and_no_final_newline(tmp_path):
    expected = [("a", "ACGTACGT"), ("b", "GGGCCC")]
    unix = ">a x\nACGT\nACGT\n>b\nGGG\nCCC\n"
    variants = {
        "unix.fa": unix,
        "crlf.fa": unix.replace("\n", "\r\n"),
        "mac.fa": unix.replace("\n", "\r"),
        "blank.fa": "\n" + unix.replace("ACGT\nACGT", "ACGT\n\nACGT") + "\n\n",
        "nofinal.fa": unix.rstrip("\n"),
        "spaces.fa": ">a x\nAC GT\tACGT  \n>b\nGGG\nCCC\n",
    }
    for name, text in variants.items():
        assert records(write(tmp_path, name, text)) == expected, name


def test_description_and_id(tmp_path):
    (rec,) = read_fasta(write(tmp_path, "d.fa", ">chr1:1-10  some   description here\nACGT\n"))
    assert rec.id == "chr1:1-10"
    assert rec.description == "some   description here"
    assert rec.origin.endswith("d.fa:1")


def test_soft_masked_lowercase_is_uppercased(tmp_path):
    assert records(write(tmp_path, "m.fa", ">m\nACGTacgtnnACGT\n")) == [("m", "ACGTACGTNNACGT")]


def test_iupac_policy(tmp_path, caplog):
    path = write(tmp_path, "i.fa", ">a\nACRYGT\n>b\nAAAA\n>c\nkkAA\n")
    with caplog.at_level(logging.WARNING):
        assert records(path) == [("a", "ACNNGT"), ("b", "AAAA"), ("c", "NNAA")]
    assert "4 IUPAC ambiguity codes in 2 records were replaced by N" in caplog.text
    with pytest.raises(FastaFormatError) as err:
        records(path, iupac="error")
    assert err.value.line == 2 and err.value.record_id == "a"
    assert "IUPAC ambiguity code 'R' in column 3" in str(err.value)


def test_uracil_policy(tmp_path, caplog):
    path = write(tmp_path, "u.fa", ">rna\nACGUUA\n")
    with caplog.at_level(logging.WARNING):
        assert records(path) == [("rna", "ACGTTA")]
    assert "2 U in 1 records were read as T" in caplog.text
    with pytest.raises(FastaFormatError, match=r"u.fa:2 \(record 'rna'\): 'U' \(RNA\) in column 4"):
        records(path, uracil="error")


def test_long_header_and_non_utf8_header(tmp_path, caplog):
    long_desc = "d" * 10_000
    path = write(tmp_path, "h.fa", f">id1 {long_desc}\nACGT\n".encode() + b">id2 caf\xe9\nAC\n")
    with caplog.at_level(logging.WARNING):
        recs = list(read_fasta(path))
    assert recs[0].description == long_desc
    assert recs[1].id == "id2" and recs[1].description == "caf\ufffd"
    assert "h.fa:3: header is not valid UTF-8" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# errors: each names the file, the line and the record, and says what to do


@pytest.mark.parametrize(
    "content, line, rid, message",
    [
        ("", None, None, "no FASTA records (the file is empty)"),
        ("\n\n", None, None, "no FASTA records"),
        ("ACGT\n>a\nACGT\n", 1, None, "text before the first '>' header"),
        ("# comment\n>a\nACGT\n", 1, None, "text before the first '>' header"),
        (">a\n", 1, "a", "the record has no sequence"),
        (">a\nACGT\n>b\n\n>c\nAC\n", 3, "b", "the record has no sequence"),
        (">a\nACGT\n>a\nAC\n", 3, "a", "duplicate id (first seen on line 1)"),
        (">a\nACGT\nAC-GT\n", 3, "a", "alignment gap '-' in column 3"),
        (">a\nACGT\nACGT1\n", 3, "a", "character '1' in column 5"),
        (">a\nACGTX\n", 2, "a", "character 'X' in column 5"),
        (">a\nACGT*\n", 2, "a", "character '*' in column 5"),
        ("> \nACGT\n", 1, None, "header without an id"),
    ],
)
def test_format_errors(tmp_path, content, line, rid, message):
    path = write(tmp_path, "bad.fa", content)
    with pytest.raises(FastaFormatError) as err:
        list(read_fasta(path))
    assert err.value.line == line
    assert err.value.record_id == rid
    assert message in str(err.value)
    assert str(err.value).startswith(path)
    assert "\n" not in str(err.value)


def test_binary_file(tmp_path):
    path = write(tmp_path, "b.fa", bytes(range(256)) * 4)
    with pytest.raises(FastaFormatError, match="binary data|text before"):
        list(read_fasta(path))


def test_invalid_byte_is_named(tmp_path):
    path = write(tmp_path, "b.fa", b">a\nAC\x00GT\n")
    with pytest.raises(FastaFormatError, match=r"b.fa:2 \(record 'a'\): byte 0x00 in column 3"):
        list(read_fasta(path))


def test_truncated_gzip(tmp_path, data_dir):
    data = (data_dir / "lambda_phage.fa.gz").read_bytes()
    path = write(tmp_path, "cut.fa.gz", data[: len(data) // 2])
    with pytest.raises(FastaFormatError, match="gzip data is truncated or corrupt"):
        list(read_fasta(path))


def test_gz_that_is_not_gzip(tmp_path):
    path = write(tmp_path, "plain.fa.gz", ">a\nACGT\n")
    with pytest.raises(FastaFormatError, match="ends in .gz but the content is not gzip-compressed"):
        list(read_fasta(path))


def test_other_compression_is_named(tmp_path):
    path = write(tmp_path, "x.fa.bz2", bz2.compress(b">a\nACGT\n"))
    with pytest.raises(FastaFormatError, match="bzip2-compressed; decompress it first"):
        list(read_fasta(path))


def test_missing_path_directory_unreadable(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_fasta(tmp_path / "missing.fa")
    with pytest.raises(InputError, match="is a directory"):
        read_fasta(tmp_path)
    path = write(tmp_path, "locked.fa", ">a\nACGT\n")
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: the permission check cannot trigger
            assert records(path) == [("a", "ACGT")]
        else:
            with pytest.raises(InputError, match="permission denied"):
                read_fasta(path)
    finally:
        os.chmod(path, 0o644)


def test_reader_streams(tmp_path):
    """Records come out before a later error is reached: the reader does not load the file first."""
    path = write(tmp_path, "s.fa", ">a\nACGT\n>b\nAC\n>c\nAC!T\n")
    stream = read_fasta(path)
    assert next(stream).id == "a"
    assert next(stream).id == "b"
    with pytest.raises(FastaFormatError, match="character '!'"):
        next(stream)


def _feed(path_or_fd, content: bytes):
    """Write ``content`` into a pipe from a thread (a pipe holds 64 KB; the reader empties it as it goes)."""
    import threading

    def feed():
        with open(path_or_fd, "wb") as fh:
            fh.write(content)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def test_pipes_are_read_whole_and_named(tmp_path, data_dir):
    """`dnallm predict <(zcat x.fa.gz)` and named pipes: a pipe can be read once, and the reader looks at a file
    more than once (the compression magic, a repeated id), so the bytes are copied first; places name the pipe."""
    path = data_dir / "oct4_test.fa"
    expected = records(path)
    read_end, write_end = os.pipe()  # what bash's <(...) hands over: /dev/fd/N
    thread = _feed(write_end, path.read_bytes())
    try:
        got = list(read_fasta(f"/dev/fd/{read_end}"))
    finally:
        os.close(read_end)
    thread.join()
    assert [(r.id, r.seq) for r in got] == expected and len(expected) == 100
    assert got[1].origin == f"/dev/fd/{read_end}:3"

    fifo = tmp_path / "peaks.fa.gz"  # a named pipe carrying gzip
    os.mkfifo(fifo)
    thread = _feed(fifo, gzip.compress(path.read_bytes()))
    assert [(r.id, r.seq) for r in iter_records(str(fifo))] == expected
    thread.join()

    bad = b">a\nACGT\n>b\nAC-GT\n>a\nTTTT\n"
    fifo = tmp_path / "bad.fa"
    os.mkfifo(fifo)
    thread = _feed(fifo, bad)
    with pytest.raises(FastaFormatError) as info:
        list(read_fasta(fifo))
    thread.join()
    assert str(info.value) == (f"{fifo}:4 (record 'b'): alignment gap '-' in column 3; remove alignment gaps; "
                               "dnallm reads unaligned DNA")
    thread = _feed(fifo, bad)
    skipped = []
    assert records(fifo, on_error="skip", on_skip=skipped.append) == [("a", "ACGT")]
    thread.join()
    assert [(s.id, s.where) for s in skipped] == [("b", f"{fifo}:4"), ("a", f"{fifo}:5")]
    assert "first seen on line 1" in skipped[1].reason


# ---------------------------------------------------------------------------------------------------------------
# in-memory input shapes


def test_string_sequence_and_paths(tmp_path):
    assert [(r.id, r.seq) for r in iter_records("acgtN")] == [("seq0", "ACGTN")]
    path = write(tmp_path, "p.fa", ">p\nAC\n")
    assert [r.id for r in iter_records(path)] == ["p"]
    from pathlib import Path

    assert [r.id for r in iter_records(Path(path))] == ["p"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("seqs.fasta", "no such file"),
        ("data/peaks.fa", "no such file"),
        ("peaks", "is not an existing file and not a DNA sequence"),
        ("ACGTRYACGT", "is not an existing file and not a DNA sequence"),
        (">a\nACGT", "looks like FASTA text"),
        ("", "is not an existing file and not a DNA sequence"),
    ],
)
def test_string_that_is_neither_path_nor_dna(text, message):
    with pytest.raises(InputError, match=message):
        list(iter_records(text))


def test_list_dict_pairs_records_seqrecords():
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    assert [(r.id, r.seq) for r in iter_records(["acgt", "GGNN"])] == [("seq0", "ACGT"), ("seq1", "GGNN")]
    assert [(r.id, r.seq) for r in iter_records({"x": "AC", "y": "gt"})] == [("x", "AC"), ("y", "GT")]
    assert [(r.id, r.seq) for r in iter_records([("x", "AC"), ("y", "AR")])] == [("x", "AC"), ("y", "AN")]
    assert [(r.id, r.seq) for r in iter_records(Record("r", "acg"))] == [("r", "ACG")]
    sr = SeqRecord(Seq("ACGU"), id="bio", description="bio desc")
    (rec,) = iter_records([sr])
    assert (rec.id, rec.seq, rec.description) == ("bio", "ACGT", "bio desc")
    assert [(r.id, r.seq) for r in iter_records(r for r in [("g", "AAA")])] == [("g", "AAA")]


def test_text_handle():
    handle = io.StringIO(">a\nAC\nGT\n>b\nTT\n")
    assert [(r.id, r.seq) for r in iter_records(handle)] == [("a", "ACGT"), ("b", "TT")]
    with pytest.raises(FastaFormatError, match=r"<stream>:2 \(record 'a'\)"):
        list(iter_records(io.StringIO(">a\nA?\n")))


@pytest.mark.parametrize(
    "source, message",
    [
        ([("a", "AC"), ("a", "GT")], "duplicate id 'a'"),
        (["ACGT", "AC-T"], r"item 1 \(id 'seq1'\): alignment gap '-' at position 2"),
        (["ACGT", ""], "empty sequence"),
        ([], "no sequences given"),
        ({}, "no sequences given"),
        (["peaks.fa"], "is a file name, but items of a list are read as sequences"),
        ([("a b", "AC")], "must be non-empty and without whitespace"),
        ([("a", 5)], "the sequence is a int"),
        ([3.5], "expected a sequence string"),
        (b"ACGT", "bytes input"),
        (42, "cannot read sequences from a int"),
        (["ACGTé"], "non-ASCII character"),
    ],
)
def test_in_memory_errors(source, message):
    with pytest.raises(InputError, match=message):
        list(iter_records(source))


def test_in_memory_policies():
    assert [r.seq for r in iter_records(["ACGU"], uracil="t")] == ["ACGT"]
    with pytest.raises(InputError, match="'U' \\(RNA\\) at position 3"):
        list(iter_records(["ACGU"], uracil="error"))
    with pytest.raises(InputError, match="IUPAC ambiguity code 'W' at position 0"):
        list(iter_records({"a": "WACG"}, iupac="error"))
    with pytest.raises(ValueError, match="iupac must be"):
        list(iter_records(["AC"], iupac="keep"))


# ---------------------------------------------------------------------------------------------------------------
# fuzz: whatever the layout, the reader gives back the records that were written

_DNA = st.text(alphabet="ACGTNacgtn", min_size=1, max_size=300)
_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_:|.-", min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    recs=st.lists(st.tuples(_IDS, _DNA), min_size=1, max_size=8, unique_by=lambda r: r[0]),
    width=st.integers(min_value=1, max_value=120),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    final_newline=st.booleans(),
    compress=st.booleans(),
)
def test_fuzz_roundtrip(tmp_path_factory, recs, width, newline, final_newline, compress):
    lines = []
    for rid, seq in recs:
        lines.append(f">{rid} desc")
        lines.extend(seq[i : i + width] for i in range(0, len(seq), width))
    text = newline.join(lines) + (newline if final_newline else "")
    data = gzip.compress(text.encode()) if compress else text.encode()
    path = tmp_path_factory.mktemp("fuzz") / ("r.fa.gz" if compress else "r.fa")
    path.write_bytes(data)
    assert records(path) == [(rid, seq.upper()) for rid, seq in recs]


def test_duplicates_far_apart_and_in_non_utf8_ids(tmp_path):
    """The reader keeps hashes of the ids, not the ids; a repeat is confirmed by reading the file again."""
    body = "".join(f">r{i}\nACGT\n" for i in range(2000))
    path = write(tmp_path, "far.fa", body + ">r7 again\nAC\n")
    with pytest.raises(FastaFormatError, match=r"far.fa:4001 \(record 'r7'\): duplicate id \(first seen on line 15\)"):
        list(read_fasta(path))
    latin = write(tmp_path, "latin.fa", b">caf\xe9\nAC\n>x\nAC\n>caf\xe9\nGG\n")
    with pytest.raises(FastaFormatError, match=r"latin.fa:5 .*duplicate id \(first seen on line 1\)"):
        list(read_fasta(latin))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63)])),
                max_size=3000))
def test_id_hash_table_answers_like_a_set(keys):
    from dnallm.io.idhashes import IdHashes as _IdHashes

    table, reference = _IdHashes(size=8), set()
    for key in keys:
        folded = (key & 0xFFFFFFFFFFFFFFFF) or 1  # 0 shares the slot value of 1: a repeat is confirmed by re-reading
        assert table.add(key) == (folded in reference)
        reference.add(folded)
    assert len(table) == len(reference)


def test_id_hash_table_stays_small():
    """The duplicate check of a long file costs at most 32 bytes a record (a set of Python ints: about 70)."""
    from dnallm.io.idhashes import IdHashes as _IdHashes

    table = _IdHashes()
    for i in range(300_000):
        assert not table.add(hash(f"w{i}"))
    assert table.add(hash("w123456")) and not table.add(hash("w300000"))
    assert len(table._slots) * table._slots.itemsize <= 32 * 300_001


def test_readers_take_the_policy_as_one_options_object(tmp_path, caplog):
    """options=InputOptions(...) reads as the four keywords do; a skipped record reaches options.report (so on_skip)
    once, after an info line; options and a keyword together, or a bad value, are an OptionError."""
    from dnallm.errors import OptionError
    from dnallm.io.options import InputOptions

    path = tmp_path / "x.fa"
    path.write_text(">a\nACGU\n>b\nAC-T\n>c\nACGT\n")
    skipped = []
    options = InputOptions(uracil="t", on_error="skip", on_skip=skipped.append)
    with caplog.at_level(logging.INFO, logger="dnallm"):
        ids = [r.id for r in iter_records(str(path), options=options)]
    assert ids == ["a", "c"] and [s.id for s in skipped] == ["b"] and "skipped record 'b'" in caplog.text
    assert [r.id for r in read_fasta(path, options=options)] == ["a", "c"] and len(skipped) == 2
    assert [r.seq for r in iter_records({"x": "acgu"}, options=InputOptions())] == ["ACGT"]
    with pytest.raises(OptionError, match="not both"):
        list(iter_records(str(path), options=options, iupac="error"))
    with pytest.raises(OptionError, match="on_error must be 'fail' or 'skip'"):
        read_fasta(path, on_error="ignore")
