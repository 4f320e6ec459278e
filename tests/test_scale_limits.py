"""Scale limits: attention-map memory refused before computing, .npz ids stored by their length, duplicate ids
found in linear time, progress readable in logs and moving inside long records."""

from __future__ import annotations

import re

import pytest

import dnallm
from dnallm.attention import attention_memory_bytes, check_attention_memory


@pytest.fixture(scope="module")
def bigbird(model_dirs):
    return dnallm.DNAInference(model_dirs["single_nucleotide"])


def test_attention_refused_over_memory_limit_before_computing(bigbird, monkeypatch):
    """Over the limit: one DnallmError with the estimate and what to do, and no forward pass ran."""
    calls = []
    handle = bigbird.model.base_model.register_forward_hook(lambda *a: calls.append(1))
    monkeypatch.setenv("DNALLM_ATTENTION_MEMORY_LIMIT", "100K")
    try:
        with pytest.raises(dnallm.DnallmError) as info:
            bigbird.attentions(("big", "ACGT" * 100))
    finally:
        handle.remove()
    message = str(info.value)
    assert "\n" not in message
    assert "'big'" in message and "needs about" in message and "DNALLM_ATTENTION_MEMORY_LIMIT" in message
    assert "--head mean" in message and "max_tokens" in message
    assert calls == []
    # under the limit the same call runs
    monkeypatch.setenv("DNALLM_ATTENTION_MEMORY_LIMIT", "1G")
    assert bigbird.attentions(("big", "ACGT" * 100)).weights.shape[-1] == 402


def test_attention_memory_estimate_counts_kept_and_transient():
    # kept 2 layers x 3 heads x 10^2 x 4 bytes, transient 2 x 8 heads x 16^2 (padded to blocks of 16) x 4 bytes
    assert attention_memory_bytes(10, 2, 3, 8, block_size=16) == 2 * 3 * 100 * 4 + 2 * 8 * 256 * 4
    assert attention_memory_bytes(10, 1, 1, 8) == 400 + 2 * 8 * 100 * 4
    assert attention_memory_bytes(10, 1, 1, 8, mean_of_heads=True) == 400 + 3 * 8 * 100 * 4


def test_attention_memory_default_limit_is_half_the_available_ram(monkeypatch):
    """No env var: a 20,480-token map of all 8 heads and 8 layers (about 100 GB) exceeds half any test machine's
    RAM, a 100-token one does not."""
    monkeypatch.delenv("DNALLM_ATTENTION_MEMORY_LIMIT", raising=False)
    with pytest.raises(dnallm.DnallmError, match="half the available RAM"):
        check_attention_memory(20480, list(range(8)), list(range(8)), 8, 64, "cpu", "chr1:0-20480")
    assert check_attention_memory(100, [0], None, 8, None, "cpu", "small") > 0


def test_attention_memory_limit_env_must_be_a_size(bigbird, monkeypatch):
    monkeypatch.setenv("DNALLM_ATTENTION_MEMORY_LIMIT", "lots")
    with pytest.raises(dnallm.DnallmError, match="not a size"):
        bigbird.attentions(("x", "ACGT" * 10))


def test_embed_npz_grows_with_the_ids_total_length(model_dirs, tmp_path):
    """One 10,000-character id among 2,001 records: the file stays near the size of the embeddings plus the
    ids' bytes (a fixed-width id array took 2,001 x 10,000 x 4 bytes = 80 MB); the ids read back exactly, with
    np.load's allow_pickle=False."""
    import numpy as np

    from dnallm.cli import main
    from dnallm.io.writers import read_npz

    fasta = tmp_path / "ids.fa"
    long_id = "L" * 9_990 + "é-unicode"
    ids = [long_id] + [f"r{i}" for i in range(2000)]
    fasta.write_text("".join(f">{i}\nACGTACGTAC\n" for i in ids))
    out = tmp_path / "e.npz"
    assert main(["embed", str(fasta), "-m", str(model_dirs["nonoverlapping_kmer"]), "-o", str(out), "-q"]) == 0
    read_ids, vectors = read_npz(out)
    assert read_ids == ids
    assert vectors.shape == (2001, 32) and vectors.dtype == np.float32
    assert out.stat().st_size < vectors.nbytes + sum(len(i.encode()) for i in ids) + 100_000
    with np.load(out, allow_pickle=False) as saved:
        assert saved["embeddings"].shape == (2001, 32)


def test_duplicate_ids_are_found_without_reading_the_file_again(tmp_path, monkeypatch):
    """500 repeated ids under on_error='skip': each is reported with its first line, and the file is opened a
    fixed number of times, not once per repeat (the old check re-read the file from the top for each)."""
    import dnallm.io.fasta as fasta

    path = tmp_path / "dups.fa"
    path.write_text("".join(f">r{i}\nACGT\n" for i in range(1000)) + "".join(f">r{i}\nACGT\n" for i in range(500)))
    opened = []
    real_open = fasta._open_text
    monkeypatch.setattr(fasta, "_open_text", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    skipped = []
    records = list(fasta.iter_records(path, on_error="skip", on_skip=skipped.append))
    assert [r.id for r in records] == [f"r{i}" for i in range(1000)]
    assert len(skipped) == 500 and len(opened) <= 2
    assert skipped[7].id == "r7" and skipped[7].where == f"{path}:{2001 + 2 * 7}"
    assert "first seen on line 15" in skipped[7].reason


def test_progress_in_a_log_is_a_few_plain_lines(model_dirs, tmp_path, capfd, monkeypatch):
    """stderr not a terminal (a log file): no carriage returns, one line per interval at most (here the default
    10 s: the run is shorter, so a start line and an end line), and the rate stays readable."""
    from dnallm.cli import main

    fasta = tmp_path / "many.fa"
    fasta.write_text("".join(f">r{i}\n{'ACGTTGCA' * 8}\n" for i in range(300)))
    monkeypatch.delenv("DNALLM_PROGRESS_INTERVAL", raising=False)
    out = tmp_path / "p.tsv"
    assert main(["predict", str(fasta), "-m", str(model_dirs["nonoverlapping_kmer"]), "-o", str(out)]) == 0
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("dnallm: ") and " records [" in line]
    assert "\r" not in err
    assert 1 <= len(lines) <= 3, err
    assert lines[-1].startswith("dnallm: 300/300 records")
    assert "s/ records" not in err and not re.search(r"(?<![\d,.])0(\.0)? records/s", err)  # a zero rate, not 5,840.0


def test_progress_moves_inside_one_long_record(model_dirs, capfd, monkeypatch):
    """One record of many windows: the progress lines count its windows while the record is 0/1."""
    import dnallm

    monkeypatch.setenv("DNALLM_PROGRESS_INTERVAL", "0")
    inf = dnallm.DNAInference(model_dirs["nonoverlapping_kmer"], max_batch_tokens=64)
    inf.predict([("long", "ACGTTGCAAC" * 2000)], progress=True)
    err = capfd.readouterr().err
    moving = [line for line in err.splitlines() if line.startswith("dnallm: 0 records") and " windows" in line]
    assert len(moving) >= 3, err
    assert len({line.rsplit(",", 1)[-1] for line in moving}) >= 3  # the window count changes


def test_readable_rate():
    from dnallm.progress import readable_rate

    assert readable_rate(30, 10, "records") == "3.0 records/s"
    assert readable_rate(1, 250, "records") == "250.0 s/record"
    assert readable_rate(0, 5, "records") == ""
