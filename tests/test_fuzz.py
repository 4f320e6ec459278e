"""Fuzzing the FASTA reader and the tokenizer spans with hypothesis.

Structured fuzz: FASTA text generated from records with every layout a file can have (line widths, CRLF / CR /
LF, blank lines, missing final newline, spaces and tabs, lower case, IUPAC codes, U); the records read back must
be those records under the documented policy, written out independently below. Byte fuzz: any bytes, plain or
gzip, either read as records or stopped by a dnallm error, never another exception. Span fuzz: whatever the
reader accepts, every family's windows cover every base.
"""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnallm
from dnallm import DnallmError

_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:|-", min_size=1,
               max_size=12)
_SEQ = st.text(alphabet="ACGTNacgtnRYKMSWBDHVrykmswbdhvUu \t", min_size=0, max_size=300)


def expected_sequence(raw: str) -> str:
    """The documented alphabet policy, written out on its own: case, IUPAC -> N, U -> T, whitespace removed."""
    out = []
    for c in raw.upper():
        if c in " \t":
            continue
        out.append("N" if c in "RYKMSWBDHV" else "T" if c == "U" else c)
    return "".join(out)


@st.composite
def fasta_files(draw):
    ids = draw(st.lists(_IDS, min_size=1, max_size=8))
    records = [(rid, draw(_SEQ), draw(st.sampled_from(["", " some description", "\tdesc with tab"])))
               for rid in ids]
    width = draw(st.integers(1, 120))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    blank = draw(st.booleans())
    text = ""
    for rid, seq, desc in records:
        text += f">{rid}{desc}{newline}"
        text += "".join(seq[i : i + width] + newline for i in range(0, len(seq), width))
        if blank:
            text += newline
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return records, text, draw(st.booleans())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=fasta_files())
def test_fuzz_reader_matches_the_policy(case, tmp_path_factory):
    records, text, compressed = case
    path = tmp_path_factory.mktemp("fz") / ("in.fa.gz" if compressed else "in.fa")
    data = text.encode("ascii")
    path.write_bytes(gzip.compress(data) if compressed else data)

    # what the policy says: each record kept with its cleaned sequence, except repeated ids and empty records
    seen = set()
    good, bad = [], []
    for rid, seq, _ in records:
        clean = expected_sequence(seq)
        if rid in seen or not clean:
            bad.append(rid)
        else:
            good.append((rid, clean))
        seen.add(rid)

    skipped = []
    got = [(r.id, r.seq) for r in dnallm.read_fasta(path, on_error="skip", on_skip=skipped.append)]
    assert got == good
    assert [s.id for s in skipped] == bad
    if bad:
        with pytest.raises(DnallmError):
            list(dnallm.read_fasta(path))
    else:
        assert [(r.id, r.seq) for r in dnallm.read_fasta(path)] == good


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), compressed=st.booleans(), cut=st.integers(0, 64), prefix=st.booleans())
def test_fuzz_any_bytes_end_in_records_or_a_dnallm_error(data, compressed, cut, prefix, tmp_path_factory):
    if prefix:
        data = b">r\n" + data
    if compressed:
        data = gzip.compress(data)
        data = data[: max(2, len(data) - cut)]
    path = tmp_path_factory.mktemp("fb") / ("in.fa.gz" if compressed else "in.fa")
    path.write_bytes(data)
    for policy in ("fail", "skip"):
        try:
            records = list(dnallm.read_fasta(path, on_error=policy))
        except DnallmError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and "\n" not in message.strip()
        else:
            for rec in records:
                assert rec.seq and set(rec.seq) <= set("ACGTN") and rec.id and not any(c.isspace() for c in rec.id)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(alphabet="ACGTNacgtRYU", min_size=1, max_size=2500), family=st.sampled_from(
    ["overlapping_kmer", "nonoverlapping_kmer", "bpe", "single_nucleotide"]))
def test_fuzz_windows_cover_every_base(raw, family, tokenizers):
    tok = tokenizers[family]
    [record] = list(dnallm.iter_records({"r": raw}))
    if family == "overlapping_kmer" and len(record.seq) < tok.k:
        with pytest.raises(DnallmError, match=f"shorter than one {tok.k}-mer"):
            tok.windows(record)
        return
    covered = bytearray(len(record.seq))
    for window in tok.windows(record):
        assert len(window) <= tok.max_tokens
        for start, end in window.spans[window.spans[:, 0] >= 0]:
            assert 0 <= start < end <= len(record.seq)
            covered[start:end] = b"\x01" * (end - start)
    assert all(covered)
