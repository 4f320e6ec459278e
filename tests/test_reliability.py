"""Nothing lost, nothing half-written, nothing run that was not asked for.

--on-error skip, kill (SIGINT, SIGKILL) and --resume, concurrent runs, result invariance, safe model loading.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnallm
from dnallm import DnallmError, ModelLoadError, RegistryError, testing
from dnallm.cli import main
from dnallm.io.writers import ResultWriter, read_results
from tests.support import dnallm_argv


def _windows(n: int, lo: int, hi: int, seed: int) -> list[tuple[str, str]]:
    return testing.genome_windows(n, lo, hi, seed, prefix="w")


@pytest.fixture(scope="module")
def bert(model_dirs):
    return dnallm.DNAInference(model_dirs["overlapping_kmer"])


# ---------------------------------------------------------------------------------------------------------------
# --on-error skip


def test_skip_keeps_every_valid_record_and_lists_the_others(tmp_path, bert, model_dirs, capsys):
    good = _windows(40, 50, 600, seed=1)
    bad = {5: ("w5", "ACGT-ACGT" * 20), 12: ("w3", "ACGT" * 30), 20: ("w20", "ACG"), 30: ("w30", "")}
    records = [bad.get(i, rec) for i, rec in enumerate(good)]
    path = testing.write_fasta(tmp_path / "mixed.fa", records)
    out = tmp_path / "out.tsv"
    code = main(["predict", str(path), "-m", str(model_dirs["overlapping_kmer"]), "-o", str(out), "-q",
                 "--on-error", "skip"])
    assert code == 0, capsys.readouterr().err
    rows = read_results(out)
    expected_ids = [rid for i, (rid, _) in enumerate(good) if i not in bad]
    assert list(rows["id"]) == expected_ids  # one row each, in input order
    alone = bert.predict([rec for i, rec in enumerate(good) if i not in bad])
    assert np.abs(alone[bert.output_columns].to_numpy() - rows[bert.output_columns].to_numpy()).max() <= 1e-5
    skipped = read_results(Path(f"{out}.skipped.tsv"))
    assert list(skipped["id"]) == ["w5", "w3", "w20", "w30"]
    # record i has its header on line 2i+1: the gap is on w5's sequence line, the others name their header line
    assert skipped["where"].tolist() == [f"{path}:{line}" for line in (12, 25, 41, 61)]
    reasons = skipped.set_index("id")["reason"]
    assert "alignment gap" in reasons["w5"]
    assert "duplicate id (first seen on line 7)" in reasons["w3"]
    assert "shorter than one 6-mer" in reasons["w20"]
    assert "no sequence" in reasons["w30"]
    # the API: the same rows, the skipped records in last_run and through the callback
    seen = []
    api = bert.predict(str(path), on_error="skip", on_skip=seen.append)
    assert list(api["id"]) == expected_ids and [s.id for s in seen] == ["w5", "w3", "w20", "w30"]
    assert [s.id for s in bert.last_run.skipped] == ["w5", "w3", "w20", "w30"]
    # and the default stops at the first bad record, writing nothing
    code = main(["predict", str(path), "-m", str(model_dirs["overlapping_kmer"]), "-o", str(tmp_path / "x.tsv"), "-q"])
    assert code == 2 and "mixed.fa:12 (record 'w5'): alignment gap" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.tsv*"))


@pytest.mark.parametrize("source", ["fasta", "items"])
@pytest.mark.parametrize("case", ["gap", "short", "duplicate", "empty"])
def test_a_skip_reason_is_the_error_without_its_place(source, case, tmp_path, bert):
    """The reader (the alphabet, an empty record, a duplicate id) and the model's tokenizer (shorter than one
    6-mer) skip records; the reason given is the message the run stops with when not skipping, minus the place,
    which has its own column."""
    last = {"gap": ("gap", "ACGT-ACGT" * 3), "short": ("short", "ACG"), "duplicate": ("ok", "ACGTACGTAAAC"),
            "empty": ("empty", "")}[case]
    records = [("ok", "ACGTACGTAC"), ("fine", "TTGACGTAGG"), last]
    items = str(testing.write_fasta(tmp_path / "in.fa", records)) if source == "fasta" else records
    seen = []
    bert.predict(items, on_error="skip", on_skip=seen.append)
    assert [s.id for s in seen] == [last[0]]
    skipped = seen[0]
    with pytest.raises(DnallmError) as info:
        bert.predict(items)
    message = " ".join(str(info.value).split())
    assert message.startswith(skipped.where) and message.endswith(": " + skipped.reason), (message, skipped)
    assert skipped.where not in skipped.reason and not skipped.reason.startswith(("record ", "item "))


def test_file_level_errors_stop_even_with_skip(tmp_path, bert):
    path = tmp_path / "binary.fa"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(DnallmError, match="binary data"):
        bert.predict(str(path), on_error="skip")


# ---------------------------------------------------------------------------------------------------------------
# kill and resume


def _rows_in(partial: Path) -> int:
    if partial.is_dir():
        return len(list(partial.glob("part-*.parquet")))
    return partial.read_bytes().count(b"\n") - 1 if partial.exists() else 0


def _kill_midway(argv: list[str], partial: Path, sig: int, min_rows: int = 1) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while _rows_in(partial) < min_rows:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def big_input(tmp_path_factory, bert):
    folder = tmp_path_factory.mktemp("resume")
    records = _windows(4000, 150, 700, seed=5)
    path = testing.write_fasta(folder / "windows.fa", records)
    reference = bert.predict(str(path))  # the uninterrupted run
    windows = bert.predict(str(path), per_window=True)
    return path, reference, windows


@pytest.mark.parametrize(
    "sig, suffix, per_window",
    [(signal.SIGINT, ".tsv", False), (signal.SIGKILL, ".tsv", False), (signal.SIGKILL, ".parquet", False),
     (signal.SIGTERM, ".jsonl", True)],
    ids=["SIGINT-tsv", "SIGKILL-tsv", "SIGKILL-parquet", "SIGTERM-jsonl-per-window"],
)
def test_kill_then_resume_equals_an_uninterrupted_run(sig, suffix, per_window, big_input, model_dirs, tmp_path, bert):
    path, reference, windows = big_input
    out = tmp_path / f"out{suffix}"
    partial = Path(f"{out}.partial")
    argv = dnallm_argv("predict", str(path), "-m", str(model_dirs["overlapping_kmer"]), "-o", str(out),
                *(["--per-window"] if per_window else []))
    killed = _kill_midway(argv, partial, sig, min_rows=1 if suffix == ".parquet" else 600)
    assert killed.returncode != 0
    assert not out.exists()  # nothing under the final name
    assert "Traceback" not in killed.stderr
    if sig != signal.SIGKILL:
        assert killed.returncode == 130 and "--resume" in killed.stderr
    done_before = _rows_in(partial)
    assert done_before > 0

    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert not partial.exists() and not Path(f"{out}.partial.json").exists()
    rows = read_results(out)
    expected = windows if per_window else reference
    assert len(rows) == len(expected)
    key = ["id", "window"] if per_window else ["id"]
    assert not rows.duplicated(key).any()  # one row each
    assert list(rows["id"]) == list(expected["id"])  # and in input order
    diff = np.abs(rows[bert.output_columns].to_numpy() - expected[bert.output_columns].to_numpy()).max()
    assert diff <= 1e-5
    # the resumed run computed only what was missing
    import re

    kept = int(re.search(r"resuming .*: ([\d,]+) rows \(([\d,]+) records\)", resumed.stderr)[2].replace(",", ""))
    ran = int(re.search(r"dnallm: ([\d,]+) records \(", resumed.stderr)[1].replace(",", ""))
    assert 0 < kept < len(reference) and kept + ran == len(reference)
    print(f"\n{signal.Signals(sig).name} {suffix}{' per window' if per_window else ''}: "
          f"killed with {kept:,} of {len(reference):,} records kept, resumed {ran:,}; {len(rows):,} rows, "
          f"max |diff| vs uninterrupted {diff:.1e}")


def test_partial_text_cut_mid_line_is_repaired(tmp_path):
    out = tmp_path / "o.tsv"
    writer = ResultWriter(out, fingerprint={"model": "m"})
    import pandas as pd

    writer.write(pd.DataFrame({"id": ["a", "b"], "length": [5, 6], "n_windows": [1, 1], "p": [0.25, 0.5]}))
    writer.abort()  # as after Ctrl-C
    with open(f"{out}.partial", "a") as fh:
        fh.write("c\t7\t1\t0.7")  # a row cut by SIGKILL, no newline
    again = ResultWriter(out, resume=True, fingerprint={"model": "m"})
    assert again.done_ids == {"a", "b"} and again.resumed_rows == 2
    again.write(pd.DataFrame({"id": ["c"], "length": [7], "n_windows": [1], "p": [0.75]}))
    again.close()
    assert out.read_text() == "id\tlength\tn_windows\tp\na\t5\t1\t0.25\nb\t6\t1\t0.5\nc\t7\t1\t0.75\n"


def test_per_window_resume_that_cuts_the_only_record_writes_one_header(tmp_path):
    import pandas as pd

    out = tmp_path / "w.tsv"
    writer = ResultWriter(out, per_window=True, fingerprint={"model": "m"})
    writer.write(pd.DataFrame({"id": ["a", "a"], "n_windows": [3, 3], "window": [0, 1], "v": [0.5, 0.25]}))
    writer.abort()  # killed before record a's third window
    again = ResultWriter(out, resume=True, per_window=True, fingerprint={"model": "m"})
    assert again.done_ids == set() and again.resumed_rows == 0
    again.write(pd.DataFrame({"id": ["a"] * 3, "n_windows": [3] * 3, "window": [0, 1, 2], "v": [0.5, 0.25, 0.75]}))
    again.close()
    assert out.read_text() == "id\tn_windows\twindow\tv\na\t3\t0\t0.5\na\t3\t1\t0.25\na\t3\t2\t0.75\n"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_resume_of_wide_rows_takes_the_ids_and_keeps_the_columns(suffix, tmp_path):
    import pandas as pd

    dims = {f"dim_{i}": np.arange(3, dtype=np.float32) * (i + 1) for i in range(64)}
    frame = pd.DataFrame({"id": ["NA", "007", "c"], "length": [5, 6, 7], "n_windows": [1, 1, 1]} | dims)
    out = tmp_path / f"e{suffix}"
    writer = ResultWriter(out, fingerprint={"command": "embed"})
    writer.write(frame.iloc[:2])
    writer.abort()
    again = ResultWriter(out, resume=True, fingerprint={"command": "embed"})
    assert again.done_ids == {"NA", "007"} and again.resumed_rows == 2  # ids as written, not as numbers or NaN
    with pytest.raises(ValueError, match="columns changed"):  # the columns of the rows already there still rule
        again.write(frame.iloc[2:, :-1])
    again.write(frame.iloc[2:])
    again.close()
    back = read_results(out)
    assert list(back["id"]) == ["NA", "007", "c"] and list(back.columns) == list(frame.columns)
    assert np.abs(back[list(dims)].to_numpy(float) - frame[list(dims)].to_numpy(float)).max() < 1e-6


def test_resume_of_a_complete_output_leaves_no_lock_and_does_not_rerun(tmp_path, model_dirs, capsys):
    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(5, 100, 300, seed=2))
    out = tmp_path / "o.tsv"
    argv = ["predict", str(fasta), "-m", str(model_dirs["overlapping_kmer"]), "-o", str(out), "-q"]
    assert main(argv) == 0
    first = out.read_text()
    for _ in range(2):  # a second --resume finds the output complete again, not a run to redo
        assert main([*argv[:-1], "--resume"]) == 0
        assert "complete already" in capsys.readouterr().err
        assert out.read_text() == first and not Path(f"{out}.partial.json").exists()


def test_a_failed_start_leaves_no_partial_files(tmp_path, model_dirs, capsys):
    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(3, 100, 300, seed=2))
    model = str(model_dirs["overlapping_kmer"])
    code = main(["predict", str(fasta), "-m", model, "-o", str(tmp_path / "o.tsv"), "-q", "--on-error", "skip",
                 "--skipped", str(tmp_path / "nodir" / "s.tsv")])  # the skipped-records file has no folder
    assert code == 2 and "nodir does not exist" in capsys.readouterr().err
    code = main(["embed", str(fasta), "-m", str(tmp_path / "no_model"), "-o", str(tmp_path / "e.npz"), "-q"])
    assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa"]


def test_resume_refuses_another_run_and_a_second_writer(tmp_path):
    import pandas as pd

    out = tmp_path / "o.tsv"
    writer = ResultWriter(out, fingerprint={"model": "a"})
    with pytest.raises(DnallmError, match="another dnallm run is writing this output"):
        ResultWriter(out, fingerprint={"model": "a"})
    writer.write(pd.DataFrame({"id": ["a"], "p": [0.5]}))
    writer.abort()
    with pytest.raises(DnallmError, match=r"written by a different run \(model=a.*now model=b"):
        ResultWriter(out, resume=True, fingerprint={"model": "b"})
    assert Path(f"{out}.partial").exists()  # the refused resume left the partial output alone
    fresh = ResultWriter(out, fingerprint={"model": "b"})  # without --resume: start afresh
    assert fresh.rows == 0 and not Path(f"{out}.partial").exists()
    fresh.close()
    assert out.read_text() == ""
    with pytest.raises(DnallmError, match="standard output cannot be continued"):
        ResultWriter(None, resume=True)


def test_a_lock_file_removed_while_being_locked_is_locked_again(tmp_path, monkeypatch):
    """A run that ends removes its lock file; a run that opened that file a moment before must not hold a lock on
    the removed file, or a third run would find no lock and write the same output beside it."""
    out = tmp_path / "o.tsv"
    meta = f"{out}.partial.json"
    real_open = os.open
    removed = []

    def open_then_lose_the_race(path, flags, mode=0o777, **kwargs):
        fd = real_open(path, flags, mode, **kwargs)
        if str(path) == meta and not removed:
            os.unlink(path)  # the other run ends just after this run opened the lock file
            removed.append(path)
        return fd

    monkeypatch.setattr(os, "open", open_then_lose_the_race)
    writer = ResultWriter(out, fingerprint={"model": "a"})
    monkeypatch.undo()
    assert removed and Path(meta).exists()
    with pytest.raises(DnallmError, match="another dnallm run is writing this output"):
        ResultWriter(out, fingerprint={"model": "a"})
    writer.close()
    assert not Path(meta).exists()


def test_resume_refuses_another_dtype_and_takes_auto_as_resolved(tmp_path, model_dirs, capsys):
    import pandas as pd

    from dnallm.cli import build_parser
    from dnallm.commands import resume_fingerprint as _fingerprint

    fasta = testing.write_fasta(tmp_path / "in.fa", _windows(4, 100, 300, seed=5))
    out = tmp_path / "o.tsv"
    argv = ["predict", str(fasta), "-m", str(model_dirs["overlapping_kmer"]), "-o", str(out), "-q"]
    whole = tmp_path / "whole.tsv"
    assert main([*argv[:-2], str(whole), "-q"]) == 0
    done = pd.read_csv(whole, sep="\t").iloc[:2]
    args = build_parser().parse_args([*argv, "--dtype", "float32"])
    writer = ResultWriter(out, fingerprint=_fingerprint(args, per_window=False))
    writer.write(done)  # a float32 run stopped after two records
    writer.abort()

    assert main([*argv, "--resume", "--dtype", "bfloat16"]) == 2
    err = capsys.readouterr().err
    assert "different run" in err and "dtype=float32" in err and "now" in err and "dtype=bfloat16" in err
    assert main([*argv, "--resume"]) == 0  # auto is float32 on this CPU: the same run, continued
    resumed, expected = read_results(out), read_results(whole)
    assert list(resumed["id"]) == list(expected["id"]) and len(expected) == 4
    assert np.abs(resumed.iloc[:, 3:].to_numpy(float) - expected.iloc[:, 3:].to_numpy(float)).max() < 1e-6


# ---------------------------------------------------------------------------------------------------------------
# invariance: batch size, token budget, order, companions


@pytest.fixture(scope="module")
def invariance_setup(model_dirs):
    records = _windows(24, 10, 900, seed=11) + [("nrun", "ACGT" * 20 + "N" * 60 + "TTGA" * 20)]
    models = {}
    for family in ("overlapping_kmer", "nonoverlapping_kmer", "bpe", "single_nucleotide"):
        inf = dnallm.DNAInference(model_dirs[family])
        alone = {rid: inf.predict([(rid, seq)])[inf.output_columns].to_numpy()[0] for rid, seq in records}
        models[family] = (inf, alone)
    return records, models


@pytest.mark.parametrize("family", ["overlapping_kmer", "nonoverlapping_kmer", "bpe", "single_nucleotide"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_results_do_not_depend_on_batching_order_or_company(data, invariance_setup, family):
    records, models = invariance_setup
    inf, alone = models[family]
    default_budget = inf.max_batch_tokens
    subset = data.draw(st.lists(st.sampled_from(records), min_size=1, max_size=len(records), unique_by=lambda r: r[0]))
    order = data.draw(st.permutations(subset))
    budget = data.draw(st.one_of(st.just(1), st.integers(2, 512), st.integers(513, 100_000)))
    inf.max_batch_tokens = budget
    try:
        result = inf.predict(list(order))
    finally:
        inf.max_batch_tokens = default_budget
    assert list(result["id"]) == [rid for rid, _ in order]
    got = result[inf.output_columns].to_numpy()
    expected = np.stack([alone[rid] for rid, _ in order])
    diff = float(np.abs(got - expected).max())
    assert diff <= 1e-5, (family, budget, diff)


# ---------------------------------------------------------------------------------------------------------------
# safe loading


def test_pickle_weights_are_refused_unless_allowed(tmp_path, model_dirs, capsys):
    from transformers import AutoModelForSequenceClassification

    source = model_dirs["overlapping_kmer"]
    folder = tmp_path / "pickled"
    model = AutoModelForSequenceClassification.from_pretrained(source)
    folder.mkdir()
    import shutil

    import torch

    for name in os.listdir(source):
        if not name.endswith(".safetensors"):
            shutil.copy(source / name, folder / name)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"pytorch_model.bin, a Python pickle.*allow_pickle=True"):
        dnallm.DNAInference(folder)
    code = main(["predict", str(Path(testing.DATA) / "oct4_test.fa"), "-m", str(folder), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--allow-pickle" in err and len(err.strip().splitlines()) == 1
    allowed = dnallm.DNAInference(folder, allow_pickle=True)
    safe = dnallm.DNAInference(source)
    seqs = [seq for _, seq in _windows(5, 100, 300, seed=3)]
    assert np.abs(allowed.predict(seqs).iloc[:, 3:].to_numpy() - safe.predict(seqs).iloc[:, 3:].to_numpy()).max() < 1e-6


def test_a_pickle_is_never_opened_without_permission(tmp_path, model_dirs):
    """A pickle that would write a file when unpickled: refused before it is opened."""
    import pickle
    import shutil

    folder = tmp_path / "evil"
    folder.mkdir()
    for name in os.listdir(model_dirs["overlapping_kmer"]):
        if not name.endswith(".safetensors"):
            shutil.copy(model_dirs["overlapping_kmer"] / name, folder / name)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelLoadError, match="pickle"):
        dnallm.DNAInference(folder)
    assert not marker.exists()


def test_remote_code_is_not_run_without_trust(tmp_path, model_dirs):
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(model_dirs["overlapping_kmer"], folder)
    marker = tmp_path / "ran"
    (folder / "custom_model.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
                                            "from transformers import BertForSequenceClassification as CustomModel\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "custom_model.CustomModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="trust_remote_code=True"):
        dnallm.DNAInference(folder)
    assert not marker.exists()


def test_registry_names_stay_inside_their_declared_source(tmp_path, monkeypatch, model_dirs):
    import shutil

    from dnallm import registry

    # a folder named like a registry entry does not replace it
    monkeypatch.chdir(tmp_path)
    shutil.copytree(model_dirs["overlapping_kmer"], tmp_path / "dnabert-6")
    source, spec = registry.resolve_model("dnabert-6")
    assert spec is not None and source == "zhihan1996/DNA_bert_6"
    assert registry.resolve_model("./dnabert-6") == ("dnabert-6", None)
    # the packaged demo model resolves inside the package
    demo = registry.get_spec("demo-oct4-mafk")
    assert Path(demo.location).is_relative_to(registry.PACKAGE_DIR)
    # a packaged path that escapes through a symbolic link is refused
    package = tmp_path / "pkg"
    (package / "models").mkdir(parents=True)
    (package / "models" / "evil").symlink_to(tmp_path / "dnabert-6")
    monkeypatch.setattr(registry, "PACKAGE_DIR", package)
    import dataclasses

    escaped = dataclasses.replace(demo, path="models/evil")
    with pytest.raises(RegistryError, match="outside the dnallm package"):
        _ = escaped.location


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("path", "../../etc", "a directory under models/ inside the dnallm package"),
        ("path", "/etc", "a directory under models/ inside the dnallm package"),
        ("hub_id", "https://example.org/model", "a Hugging Face id 'owner/name'"),
        ("hub_id", "../local/model", "a Hugging Face id 'owner/name'"),
    ],
)
def test_registry_entries_cannot_point_elsewhere(tmp_path, field, value, message):
    import yaml

    entry = {"name": "x", "architecture": "bert", "tokenizer_family": "overlapping_kmer", "k": 6, "max_tokens": 512,
             "max_bp": 512, "trust_remote_code": False, "license": None, "paper": "p",
             "source": ["https://example.org"], field: value}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    with pytest.raises(RegistryError, match=message):
        dnallm.load_registry(path)
