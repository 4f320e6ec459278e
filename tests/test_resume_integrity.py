"""--resume never mixes rows of two inputs or two models; outputs never overwrite an input or each other; an input
that changes while it is read stops the run; several FASTA inputs in one run."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import dnallm
from dnallm import DnallmError, testing
from dnallm.cli import main
from dnallm.io.writers import read_npz, read_results


def _windows(n: int, seed: int, prefix: str = "w") -> list[tuple[str, str]]:
    return testing.genome_windows(n, 60, 300, seed, prefix=prefix)


@pytest.fixture(scope="module")
def model(model_dirs) -> str:
    return str(model_dirs["overlapping_kmer"])


def _same_rows(got, expected) -> None:
    assert list(got["id"]) == list(expected["id"])
    values = [c for c in expected.columns if c.startswith("p_") or c.startswith("logit")] or list(expected.columns[3:])
    assert np.abs(got[values].to_numpy(float) - expected[values].to_numpy(float)).max() < 1e-5


# ---------------------------------------------------------------------------------------------------------------
# item 3: the fingerprint covers the input's contents and the model's files


def test_resume_after_fixing_the_input_starts_afresh_and_matches_the_fixed_file(tmp_path, model, capsys):
    records = _windows(300, seed=1)
    bad = list(records)
    bad[250] = ("w250", "ACGT-ACGT" * 10)
    fasta = testing.write_fasta(tmp_path / "in.fa", bad)
    out = tmp_path / "o.tsv"
    argv = ["predict", str(fasta), "-m", model, "-o", str(out), "-q", "--max-batch-tokens", "512"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rows kept in" in err and "--resume" in err
    assert Path(f"{out}.partial").exists()
    fixed = records[:10] + records[11:]  # the bad record fixed, and one early record deleted
    fixed[20] = (fixed[20][0], fixed[20][1][::-1])  # and one already written changed
    testing.write_fasta(fasta, fixed)
    assert main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "the input changed since these rows were written" in err and "starting afresh" in err
    fresh = tmp_path / "fresh.tsv"
    assert main(["predict", str(fasta), "-m", model, "-o", str(fresh), "-q"]) == 0
    got, expected = read_results(out), read_results(fresh)
    assert len(got) == len(fixed) == 299
    _same_rows(got, expected)


def test_resume_refuses_a_partial_output_of_other_weights(tmp_path, model, capsys):
    folder = tmp_path / "model"
    shutil.copytree(model, folder)
    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(300, seed=2) + [("bad", "ACGT-ACGT" * 10)])
    out = tmp_path / "o.tsv"
    argv = ["predict", str(fasta), "-m", str(folder), "-o", str(out), "-q", "--max-batch-tokens", "512"]
    assert main(argv) == 2 and Path(f"{out}.partial").exists()
    capsys.readouterr()
    weights = next(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # other weights, same size
    weights.write_bytes(bytes(data))
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "different run" in err and "weights=" in err


def _feed(fifo: Path, text: str) -> threading.Thread:
    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write(text)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_pipe_input_is_said_to_be_unresumable_and_never_invites_resume(tmp_path, model, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = tmp_path / "o.tsv"
    argv = ["predict", str(fifo), "-m", model, "-o", str(out), "--max-batch-tokens", "512"]
    assert main([*argv, "--resume"]) == 2  # refused before the pipe is opened or the model loads
    err = capsys.readouterr().err
    assert "is a pipe, not a file" in err and "cannot be resumed" in err
    text = "".join(f">{rid}\n{seq}\n" for rid, seq in _windows(300, seed=3)) + ">bad\nACGT-ACGT\n"
    thread = _feed(fifo, text)
    assert main(argv) == 2
    thread.join(10)
    err = capsys.readouterr().err
    assert "this run cannot be resumed" in err and "add --resume" not in err
    assert not Path(f"{out}.partial").exists() and not Path(f"{out}.partial.json").exists()
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------------
# item 4: an output that is the input or another output is refused before anything is written


def _links(tmp_path: Path, fasta: Path) -> dict[str, Path]:
    os.link(fasta, tmp_path / "hard.fa")
    os.symlink(fasta, tmp_path / "sym.fa")
    return {"hard": tmp_path / "hard.fa", "sym": tmp_path / "sym.fa"}


@pytest.mark.parametrize("case", ["same", "hard", "sym", "skipped_is_input", "skipped_is_output",
                                  "skipped_is_partial", "npz_skipped_is_tmp"])
def test_an_output_that_is_an_input_or_another_output_is_refused(case, tmp_path, model_dirs, capsys):
    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(3, seed=4))
    before = fasta.read_bytes()
    links = _links(tmp_path, fasta)
    missing_model = str(tmp_path / "no_model")  # refused before the model loads: a missing model is never seen
    command, extra = "predict", []
    if case == "same":
        extra = ["-o", str(fasta)]
    elif case in ("hard", "sym"):
        extra = ["-o", str(links[case])]
    elif case == "skipped_is_input":
        extra = ["-o", str(tmp_path / "o.tsv"), "--on-error", "skip", "--skipped", str(links["sym"])]
    elif case == "skipped_is_output":
        extra = ["-o", str(tmp_path / "sk.tsv"), "--on-error", "skip", "--skipped", str(tmp_path / "sk.tsv")]
    elif case == "skipped_is_partial":
        extra = ["-o", str(tmp_path / "o.tsv"), "--on-error", "skip", "--skipped", str(tmp_path / "o.tsv.partial")]
    else:
        command = "embed"
        extra = ["-o", str(tmp_path / "e.npz"), "--on-error", "skip", "--skipped", str(tmp_path / "e.npz.partial.npz")]
    assert main([command, str(fasta), "-m", missing_model, "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dnallm: error: ") and err.count("\n") == 1
    assert ("is the input" in err) if case in ("same", "hard", "sym", "skipped_is_input") else ("is also" in err)
    assert fasta.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.fa", "in.fa", "sym.fa"]


# ---------------------------------------------------------------------------------------------------------------
# item 5: an input that changes while it is read


@pytest.mark.parametrize("change", ["replaced", "appended"])
def test_an_input_changed_while_read_stops_the_reader(change, tmp_path):
    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(50, seed=5))
    records = dnallm.read_fasta(fasta)
    first = next(records)
    if change == "replaced":  # mv other.fa in.fa: the same ids again, the duplicate check must not be fooled
        other = testing.write_fasta(tmp_path / "other.fa", [(first.id, "ACGT" * 30)] + _windows(50, seed=6))
        os.replace(other, fasta)
        match = "was replaced by another file"
    else:
        with open(fasta, "a") as fh:
            fh.write(">late\nACGTACGT\n")
        match = "changed size"
    with pytest.raises(DnallmError, match=match):
        list(records)


def test_a_run_on_an_input_replaced_midway_fails_and_writes_no_result(tmp_path, model, capsys):
    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(400, seed=7))
    other = testing.write_fasta(tmp_path / "other.fa", _windows(400, seed=8))
    out = tmp_path / "o.tsv"
    state = {"done": False}

    import dnallm.io.fasta as fasta_module

    real = fasta_module._parse_header

    def header_then_move(line, name, lineno):
        if lineno > 100 and not state["done"]:
            os.replace(other, fasta)
            state["done"] = True
        return real(line, name, lineno)

    fasta_module._parse_header = header_then_move
    try:
        code = main(["predict", str(fasta), "-m", model, "-o", str(out), "-q"])
    finally:
        fasta_module._parse_header = real
    err = capsys.readouterr().err
    assert code == 2 and "was replaced by another file" in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------------
# item 24: several FASTA inputs


def test_several_inputs_run_in_order_file_by_file(tmp_path, model, capsys):
    a, b = _windows(7, seed=9, prefix="a"), _windows(5, seed=10, prefix="b")
    fa, fb = testing.write_fasta(tmp_path / "a.fa", a), testing.write_fasta(tmp_path / "b.fa", b)
    both = testing.write_fasta(tmp_path / "both.fa", a + b)
    for command, suffix in (("predict", "tsv"), ("embed", "tsv"), ("embed", "npz")):
        out, ref = tmp_path / f"o.{suffix}", tmp_path / f"ref.{suffix}"
        assert main([command, str(fa), str(fb), "-m", model, "-o", str(out), "-q"]) == 0
        assert main([command, str(both), "-m", model, "-o", str(ref), "-q"]) == 0
        if suffix == "npz":
            (got_ids, got), (expected_ids, expected) = read_npz(out), read_npz(ref)
            assert got_ids == [r[0] for r in a + b] == expected_ids
            assert np.abs(got - expected).max() < 1e-5
        else:
            got, expected = read_results(out), read_results(ref)
            assert list(got["id"]) == [r[0] for r in a + b]
            assert np.abs(got.iloc[:, 1:].to_numpy(float) - expected.iloc[:, 1:].to_numpy(float)).max() < 1e-5


def test_an_id_repeated_across_inputs_names_both_places(tmp_path, model, capsys):
    fa = testing.write_fasta(tmp_path / "a.fa", [("x", "ACGT" * 20), ("y", "ACGT" * 20)])
    fb = testing.write_fasta(tmp_path / "b.fa", [("z", "ACGT" * 20), ("y", "TTGA" * 20)])
    out = tmp_path / "o.tsv"
    assert main(["predict", str(fa), str(fb), "-m", model, "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{fb}:3" in err and f"{fa}:3" in err and "duplicate id" in err and "'y'" in err
    assert not out.exists()
    assert main(["predict", str(fa), str(fb), "-m", model, "-o", str(out), "-q", "--on-error", "skip"]) == 0
    assert list(read_results(out)["id"]) == ["x", "y", "z"]
    skipped = Path(f"{out}.skipped.tsv").read_text().splitlines()
    assert len(skipped) == 2 and skipped[1].startswith(f"y\t{fb}:3\tduplicate id")


def test_resume_fingerprint_covers_each_of_several_inputs(tmp_path, model, capsys):
    from dnallm.cli import build_parser
    from dnallm.commands import resume_fingerprint as _fingerprint

    fa = testing.write_fasta(tmp_path / "a.fa", _windows(3, seed=11, prefix="a"))
    fb = testing.write_fasta(tmp_path / "b.fa", _windows(3, seed=12, prefix="b"))
    argv = ["predict", str(fa), str(fb), "-m", model, "-o", str(tmp_path / "o.tsv")]
    before = _fingerprint(build_parser().parse_args(argv))
    assert [i["path"] for i in before["inputs"]] == [str(fa.resolve()), str(fb.resolve())]
    testing.write_fasta(fb, _windows(3, seed=13, prefix="b"))
    after = _fingerprint(build_parser().parse_args(argv))
    assert after["inputs"][0] == before["inputs"][0] and after["inputs"][1]["sha256"] != before["inputs"][1]["sha256"]
