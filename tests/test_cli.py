"""The `dnallm` command as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dnallm import load_registry


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dnallm.cli", *args], capture_output=True, text=True, cwd=cwd)


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
