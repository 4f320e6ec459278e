"""The Ray engine (``--engine ray``, dnallm.distributed): the same rows, ids, order and values as the local engine,
the same records left out in the same order, a killed worker's block run again (none lost, none twice), and
``--resume`` across engines. Ray runs in this process (one Ray for the module, 8 logical CPUs on 2 cores), as
on a laptop; the local-cluster case (``ray start --head``) is benchmarks/ray_check.py."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from dnallm import DNAInference, testing
from dnallm.distributed import RayInference
from dnallm.errors import InputError
from dnallm.io.writers import read_results
from tests.support import dnallm_argv, run_main
from tests.test_reliability import _kill_midway
from tests.test_variants import snvs, write_vcf


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(ray_session):
    """The demo model on two Ray workers, in blocks of 7 records (so every input here is several blocks)."""
    engine = RayInference(workers=2, cpus_per_worker=1, block_records=7, block_bp=3000, block_sites=5)
    yield engine
    engine.close()


def _records() -> list:
    """Good records and, among them, one of each kind the input policy leaves out: a bad character (driver),
    a repeated id (driver), and one too short for a 6-mer (the worker's tokenizer)."""
    records = testing.genome_windows(60, 80, 600, seed=3)
    records.insert(9, ("bad_char", "ACGTACGTXACGT" * 8))
    records.insert(25, ("too_short", "ACG"))
    records.insert(40, (records[3][0], "ACGT" * 30))
    return records


def _same(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> float:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for key in keys:
        assert list(got[key]) == list(expected[key])
    values = [c for c in expected.columns if c not in keys and expected[c].dtype.kind == "f"]
    assert values
    return float(np.abs(got[values].to_numpy(np.float64) - expected[values].to_numpy(np.float64)).max())


def test_predict_and_embed_equal_the_local_engine_with_the_same_records_left_out(pool, demo):
    records = _records()
    for method, keys, kwargs in [("iter_predict", ["id", "length", "n_windows"], {}),
                                 ("iter_predict", ["id", "window", "start", "end"], {"per_window": True}),
                                 ("iter_embed", ["id", "n_windows"], {"pooling": "mean"})]:
        skipped_ray, skipped_local = [], []
        got = pd.concat(getattr(pool, method)(records, on_error="skip", on_skip=skipped_ray.append, **kwargs))
        expected = pd.concat(getattr(demo, method)(records, on_error="skip", on_skip=skipped_local.append,
                                                    **kwargs))
        assert _same(got.reset_index(drop=True), expected.reset_index(drop=True), keys) < 1e-5
        assert [s.id for s in skipped_ray] == ["bad_char", "too_short", records[3][0]]
        assert skipped_ray == skipped_local  # id, place and reason, in input order
    assert pool.last_run.records == 60 and pool.last_run.skipped_inputs == 3
    assert pool.last_run.windows == demo.last_run.windows


def test_a_bad_record_stops_the_run_with_the_local_engine_message(pool, demo):
    for bad in [("bad_char", "ACGTXACGT" * 10), ("too_short", "ACG")]:  # found in the driver; in a worker
        records = testing.genome_windows(20, 80, 300, seed=4) + [bad]
        with pytest.raises(InputError) as local:
            demo.predict(records)
        with pytest.raises(InputError) as distributed:
            pool.predict(records)
        assert str(distributed.value) == str(local.value) and bad[0] in str(local.value)


def test_scan_tiles_and_regions_equal_the_local_engine(pool, demo, tmp_path):
    import shutil

    genome = tmp_path / "phiX174.fa"
    shutil.copy(testing.DATA / "phiX174.fa", genome)
    got = pool.scan(genome, window=200, step=100)
    expected = demo.scan(genome, window=200, step=100)
    assert len(got) == 53 and _same(got, expected, ["chrom", "start", "end"]) < 1e-5
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(f"phix\t{s}\t{s + 150 + 7 * i}\tr{i}\t0\t{'+-'[i % 2]}\n"
                           for i, s in enumerate(range(0, 5000, 160))) + "chr9\t0\t100\tmissing\t0\t+\n"
                   + "phix\t5300\t5400\tpast_end\t0\t+\n")
    skipped_ray, skipped_local = [], []
    got = pool.scan(genome, regions=bed, on_skip=skipped_ray.append)
    expected = demo.scan(genome, regions=bed, on_skip=skipped_local.append)
    assert len(got) == 32 and _same(got, expected, ["chrom", "start", "end", "name", "strand"]) < 1e-5
    assert [s.id for s in skipped_ray] == ["missing", "past_end"] and skipped_ray == skipped_local


def test_variants_equal_the_local_engine(pool, demo, tmp_path):
    import shutil

    genome = tmp_path / "phiX174.fa"
    shutil.copy(testing.DATA / "phiX174.fa", genome)
    rows = snvs(30, seed=2)
    rows.insert(7, ("phix", 100, "wrong_ref", "N", "A"))
    rows.insert(12, ("chr2", 100, "no_contig", "A", "C"))
    vcf = write_vcf(tmp_path / "v.vcf", rows)
    skipped_ray, skipped_local = [], []
    got = pool.score_variants(vcf, genome, on_skip=skipped_ray.append)
    expected = demo.score_variants(vcf, genome, on_skip=skipped_local.append)
    assert len(got) == 32
    assert _same(got, expected, ["chrom", "pos", "id", "ref", "alt", "window_start", "window_end"]) < 1e-5
    assert [s.id for s in skipped_ray] == ["phix:100:N>A", "chr2:100:A>C"] and skipped_ray == skipped_local


def test_a_killed_worker_is_restarted_and_its_block_run_once(pool, demo):
    records = testing.genome_windows(150, 80, 400, seed=6)
    expected = demo.predict(records)
    before = pool.worker_pids()
    frames, killed = [], None
    for rows in pool.iter_predict(records):
        frames.append(rows)
        if killed is None:  # the other blocks are with the workers now
            killed = before[0]
            os.kill(killed, signal.SIGKILL)
    got = pd.concat(frames, ignore_index=True)
    assert not got["id"].duplicated().any()
    assert _same(got, expected, ["id", "length", "n_windows"]) < 1e-5
    after = pool.worker_pids()
    assert killed not in after and before[1] in after  # restarted by Ray; the other one untouched


def test_cli_resume_with_ray_continues_a_local_run(ray_session, model_dirs, tmp_path, capsys):
    model = str(model_dirs["overlapping_kmer"])
    path = testing.write_fasta(tmp_path / "in.fa", testing.genome_windows(1500, 100, 400, seed=7))
    reference = DNAInference(model).predict(str(path))
    out = tmp_path / "out.tsv"
    argv = ["predict", str(path), "-m", model, "-o", str(out)]
    killed = _kill_midway(dnallm_argv(*argv), Path(f"{out}.partial"), signal.SIGINT, min_rows=200)
    assert killed.returncode == 130
    code, _, err = run_main([*argv, "--resume", "--engine", "ray", "--workers", "1", "--cpus-per-worker", "1"],
                            capsys)
    assert code == 0, err
    assert "1 Ray worker (1 CPU each; Ray started in this process)" in err
    kept = int(re.search(r"resuming .*: ([\d,]+) rows", err)[1].replace(",", ""))
    ran = int(re.search(r"dnallm: ([\d,]+) records \(", err)[1].replace(",", ""))
    assert 0 < kept < 1500 and kept + ran == 1500
    got = read_results(out)
    assert not got["id"].duplicated().any()
    assert _same(got, reference, ["id", "length", "n_windows"]) < 1e-5


def test_ray_options_need_the_ray_engine_and_a_cluster_large_enough(ray_session, tmp_path, capsys):
    fasta = testing.write_fasta(tmp_path / "a.fa", [("a", "ACGT" * 50)])
    code, _, err = run_main(["predict", str(fasta), "--workers", "2"], capsys)
    assert code == 2 and err.strip() == "dnallm: error: --workers: this needs --engine ray"
    code, _, err = run_main(["predict", str(fasta), "--engine", "ray", "--workers", "20", "--cpus-per-worker", "1"],
                            capsys)
    assert code == 2 and "20 workers need 20 CPUs; the Ray cluster has 8" in err and len(err.strip().split("\n")) == 1


def test_the_cli_with_ray_writes_what_the_local_cli_writes(ray_session, tmp_path, capsys):
    fasta = testing.write_fasta(tmp_path / "a.fa", _records())
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.parquet"
        extra = ["--engine", "ray", "--workers", "1", "--cpus-per-worker", "1"] if engine == "ray" else []
        code, _, err = run_main(["embed", str(fasta), "-o", str(out), "--on-error", "skip", *extra], capsys)
        assert code == 0, err
        outputs[engine] = (read_results(out), Path(f"{out}.skipped.tsv").read_text())
    assert _same(outputs["ray"][0], outputs["local"][0], ["id", "length", "n_windows"]) < 1e-5
    assert outputs["ray"][1] == outputs["local"][1] and outputs["ray"][1].count("\n") == 4
