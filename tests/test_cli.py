"""The `dnallm` command as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from dnallm import load_registry
from tests.support import dnallm_argv
from tests.support import run_dnallm as run


def test_models_lists_the_registry():
    result = run("models", "--tsv")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["name", "tokenizer", "max tokens"]
    assert [line.split("\t")[0] for line in lines[1:]] == list(load_registry())
    table = run("models", "--family", "single_nucleotide").stdout
    assert "hyenadna-large-1m" in table and "dnabert-6" not in table


def test_validate_counts_records_and_bases(data_dir):
    result = run("validate", str(data_dir / "oct4_test.fa"), str(data_dir / "lambda_phage.fa.gz"), "-q")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert "oct4_test.fa: 100 records, 20,000 bp (shortest 200, longest 200, N 0), valid" in first
    assert "lambda_phage.fa.gz: 1 records, 48,502 bp" in second


@pytest.mark.parametrize(
    "content, message",
    [
        (">a\nACGT\n>a\nAC\n", "bad.fa:3 (record 'a'): duplicate id (first seen on line 1)"),
        ("", "bad.fa: no FASTA records (the file is empty)"),
        (">a\nAC%GT\n", "bad.fa:2 (record 'a'): character '%' in column 3"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, content, message):
    (tmp_path / "bad.fa").write_text(content)
    result = run("validate", "bad.fa", "-q", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dnallm: error: {message}")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_file_and_bad_arguments(tmp_path):
    result = run("validate", str(tmp_path / "nope.fa"))
    assert result.returncode == 2 and "no such file" in result.stderr and "Traceback" not in result.stderr
    result = run("validate", "x.fa", "--iupac", "keep")
    assert result.returncode == 2 and "invalid choice" in result.stderr


# ---------------------------------------------------------------------------------------------------------------
# dnallm predict / embed, end to end


@pytest.fixture(scope="module")
def expected(model_dirs, data_dir):
    from dnallm import DNAInference

    return DNAInference(model_dirs["overlapping_kmer"]).predict(data_dir / "oct4_test.fa")


def test_predict_every_format_reads_back(model_dirs, data_dir, expected, tmp_path):
    import io

    import numpy as np
    import pandas as pd

    from dnallm.io.writers import read_results

    model, fasta = str(model_dirs["overlapping_kmer"]), str(data_dir / "oct4_test.fa")
    stdout = run("predict", fasta, "-m", model, "-q")
    assert stdout.returncode == 0, stdout.stderr
    assert stdout.stderr == ""
    frames = {"stdout": pd.read_csv(io.StringIO(stdout.stdout), sep="\t", dtype={"id": str})}
    for suffix in ("tsv", "csv", "jsonl", "parquet"):
        out = tmp_path / f"out.{suffix}"
        result = run("predict", fasta, "-m", model, "-o", str(out), "--max-batch-tokens", "512")
        assert result.returncode == 0, result.stderr
        assert "100 records (200 windows" in result.stderr and f"100 rows -> {out}" in result.stderr
        frames[suffix] = read_results(out)
    for name, frame in frames.items():
        assert list(frame.columns) == ["id", "length", "n_windows", "Mafk", "Oct4"], name
        assert frame["id"].tolist() == expected["id"].tolist(), name
        assert frame["length"].tolist() == [200] * 100
        assert np.abs(frame[["Mafk", "Oct4"]].to_numpy() - expected[["Mafk", "Oct4"]].to_numpy()).max() <= 1e-6, name
    assert not list(tmp_path.glob(".*partial"))  # no temporary files left behind


def test_predict_reads_a_process_substitution(model_dirs, data_dir, expected, tmp_path):
    """`dnallm predict <(zcat peaks.fa.gz)`, as bash runs it: one row per record, the values of the file itself."""
    import gzip
    import shutil

    import numpy as np

    from dnallm.io.writers import read_results

    gz = tmp_path / "oct4.fa.gz"
    with open(data_dir / "oct4_test.fa", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    out = tmp_path / "out.tsv"
    command = (f"{shlex.join(dnallm_argv('predict'))} <(gzip -dc {gz}) -m {model_dirs['overlapping_kmer']} "
               f"-o {out} -q")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    frame = read_results(out)
    assert frame["id"].tolist() == expected["id"].tolist() and len(frame) == 100
    assert np.abs(frame[["Mafk", "Oct4"]].to_numpy() - expected[["Mafk", "Oct4"]].to_numpy()).max() <= 1e-6


def test_predict_per_window_and_backend_options(model_dirs, data_dir, tmp_path):
    from dnallm.io.writers import read_results

    out = tmp_path / "windows.tsv"
    result = run("predict", str(data_dir / "phiX174.fa"), "-m", str(model_dirs["overlapping_kmer"]), "-o", str(out),
                 "--per-window", "--attn", "eager", "--device", "cpu", "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    assert "attention eager" in result.stderr
    frame = read_results(out)
    assert list(frame.columns[:6]) == ["id", "length", "n_windows", "window", "start", "end"]
    assert frame["start"].iloc[0] == 0 and frame["end"].iloc[-1] == 5386 and len(frame) == frame["n_windows"].iloc[0]


def test_embed_outputs(model_dirs, data_dir, tmp_path):
    import numpy as np

    from dnallm import DNAInference
    from dnallm.io.writers import read_results

    model, fasta = str(model_dirs["nonoverlapping_kmer"]), str(data_dir / "mafk_test.fa")
    ids, vectors = DNAInference(model).embed(fasta)
    assert run("embed", fasta, "-m", model, "-o", str(tmp_path / "e.npz"), "-q").returncode == 0
    from dnallm.io.writers import read_npz

    saved_ids, saved = read_npz(tmp_path / "e.npz")
    assert saved_ids == ids and np.abs(saved - vectors).max() <= 1e-6
    assert run("embed", fasta, "-m", model, "-o", str(tmp_path / "e.parquet"), "-q").returncode == 0
    frame = read_results(tmp_path / "e.parquet")
    assert frame["id"].tolist() == ids and frame.shape == (100, 3 + 32)
    assert np.abs(frame.filter(like="dim_").to_numpy() - vectors).max() <= 1e-6


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["-m", "dnabert6"], "unknown model name 'dnabert6'; did you mean 'dnabert-6'"),
        (["-m", "/no/such/model"], "/no/such/model: no such model directory"),
        (["-m", "hyenadna-tiny-1k"], "runs Python code from its repository"),
        (["-m", "MODEL", "-o", "out.xlsx"], "out.xlsx: unknown output format '.xlsx'"),
        (["-m", "MODEL", "-o", "missing/out.tsv"], "the folder missing does not exist"),
        (["-m", "MODEL", "--attn", "sdpa", "--device", "cuda"], "sees no CUDA GPU"),
    ],
)
def test_predict_user_errors(model_dirs, data_dir, tmp_path, monkeypatch, capsys, arguments, message):
    """In-process (the argument handling is the same; subprocess runs above cover the real command)."""
    from dnallm.cli import main

    monkeypatch.chdir(tmp_path)
    arguments = [str(model_dirs["overlapping_kmer"]) if a == "MODEL" else a for a in arguments]
    assert main(["predict", str(data_dir / "oct4_test.fa"), "-q", *arguments]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("dnallm: error: ")
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_bad_record_leaves_no_output(model_dirs, tmp_path, monkeypatch, capsys):
    from dnallm.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.fa").write_text(">a\nACGTACGTAC\n>b\nACG\n")
    assert main(["predict", "in.fa", "-m", str(model_dirs["overlapping_kmer"]), "-o", "out.tsv", "-q"]) == 2
    assert "record 'b': 3 bp is shorter than one 6-mer" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa"]
