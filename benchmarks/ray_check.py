"""--engine ray against the local engine, command by command, with Ray started in the CLI's process and on a local
cluster (``ray start --head --num-cpus 2``), and a worker killed mid-run on that cluster.

    python benchmarks/ray_check.py            # about 3-4 minutes on 2 cores

Each command runs three times from a fresh process (``python -m dnallm ...``): local, ``--engine ray`` (Ray in
that process) and ``--engine ray --ray-address 127.0.0.1:PORT``, two workers of one CPU, blocks of 64 records so
every input is many blocks. Inputs (demo model): 700 Oct4 training peaks with a bad character, a record too short
for a 6-mer and a repeated id among them; phiX174 tiled (200 bp, step 50); 40 BED intervals on both strands plus
one on a missing contig; 120 SNVs on phiX174 plus one whose REF is wrong. The table gives, per command and
engine, the rows, whether ids (keys) and their order equal the local run's, the max |diff| of the values, and
whether the skipped lists are the same bytes.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
PORT = 6399


def _records(path: Path, n: int) -> list[tuple[str, str]]:
    import gzip

    out, name, seq = [], None, []
    for line in gzip.open(path, "rt").read().splitlines():
        if line.startswith(">"):
            if name is not None:
                out.append((name, "".join(seq)))
            name, seq = line[1:].split()[0], []
        else:
            seq.append(line.strip())
    out.append((name, "".join(seq)))
    return out[:n]


def inputs(folder: Path) -> dict[str, Path]:
    records = _records(DATA / "oct4_train.fa.gz", 700)
    records.insert(50, ("bad_char", "ACGTXACGT" * 20))
    records.insert(300, ("too_short", "ACG"))
    records.insert(500, (records[10][0], records[10][1]))
    with open(folder / "peaks.fa", "w") as fh:
        fh.writelines(f">{i}\n{s}\n" for i, s in records)
    shutil.copy(DATA / "phiX174.fa", folder / "phix.fa")
    genome = "".join((DATA / "phiX174.fa").read_text().splitlines()[1:]).upper()
    rng = random.Random(0)
    with open(folder / "regions.bed", "w") as fh:
        for i in range(40):
            start = rng.randrange(0, len(genome) - 400)
            fh.write(f"phix\t{start}\t{start + rng.randrange(100, 400)}\tr{i}\t0\t{'+-'[i % 2]}\n")
        fh.write("chr9\t0\t100\tmissing\t0\t+\n")
    with open(folder / "snvs.vcf", "w") as fh:
        fh.write("##fileformat=VCFv4.2\n##contig=<ID=phix,length=5386>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i, p in enumerate(sorted(rng.sample(range(5, len(genome) - 5), 120))):
            alt = rng.choice([b for b in "ACGT" if b != genome[p]])
            ref = genome[p] if i != 60 else next(b for b in "ACGT" if b != genome[p])
            fh.write(f"phix\t{p + 1}\tv{i}\t{ref}\t{alt}\t.\t.\t.\n")
    return {"fasta": folder / "peaks.fa", "genome": folder / "phix.fa", "bed": folder / "regions.bed",
            "vcf": folder / "snvs.vcf"}


def commands(files: dict[str, Path]) -> dict[str, tuple[list[str], str, list[str]]]:
    """name -> (arguments before -o, output suffix, key columns)."""
    return {
        "predict": (["predict", str(files["fasta"]), "--on-error", "skip"], ".tsv", ["id", "length", "n_windows"]),
        "embed": (["embed", str(files["fasta"]), "--on-error", "skip"], ".parquet", ["id", "length", "n_windows"]),
        "scan (tiles)": (["scan", str(files["genome"]), "--window", "200", "--step", "50"], ".tsv",
                         ["chrom", "start", "end"]),
        "scan (regions)": (["scan", str(files["genome"]), "--regions", str(files["bed"])], ".tsv",
                           ["chrom", "start", "end", "name", "strand"]),
        "variants": (["variants", str(files["vcf"]), "--genome", str(files["genome"])], ".tsv",
                     ["chrom", "pos", "id", "ref", "alt", "window_start", "window_end"]),
    }


def run(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dnallm", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: dnallm {' '.join(args)}\n{done.stderr}")
    return time.perf_counter() - start


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t", keep_default_na=False)


def compare(got: Path, expected: Path, keys: list[str]) -> tuple[int, bool, float, bool]:
    a, b = read(got), read(expected)
    same_keys = list(a.columns) == list(b.columns) and len(a) == len(b) and all(
        list(a[k]) == list(b[k]) for k in keys)
    values = [c for c in b.columns if c not in keys and b[c].dtype.kind == "f"]
    diff = float(np.abs(a[values].to_numpy(np.float64) - b[values].to_numpy(np.float64)).max())
    skipped_a, skipped_b = Path(f"{got}.skipped.tsv"), Path(f"{expected}.skipped.tsv")
    same_skips = (skipped_a.exists() == skipped_b.exists()) and (
        not skipped_b.exists() or skipped_a.read_text().replace(got.name, "") ==
        skipped_b.read_text().replace(expected.name, ""))
    return len(a), same_keys, diff, same_skips


def killed_worker(address: str) -> str:
    """A worker of the cluster killed (SIGKILL, by its pid) after the first block's rows came back."""
    import ray

    from dnallm import DNAInference
    from dnallm.distributed import RayInference

    records = _records(DATA / "oct4_train.fa.gz", 2000)
    expected = DNAInference().predict(records)
    engine = RayInference(address=address, workers=2, cpus_per_worker=1, block_records=64)
    before = engine.worker_pids()
    frames, killed = [], None
    for rows in engine.iter_predict(records):
        frames.append(rows)
        if killed is None:
            killed = before[0]
            os.kill(killed, signal.SIGKILL)
    got = pd.concat(frames, ignore_index=True)
    after = engine.worker_pids()
    diff = float(np.abs(got[engine.output_columns].to_numpy() - expected[engine.output_columns].to_numpy()).max())
    ray.shutdown()
    return (f"killed worker pid {killed} after block 1 of {-(-len(records) // 64)}: {len(got):,} rows of "
            f"{len(records):,}, ids in input order {list(got['id']) == list(expected['id'])}, duplicated "
            f"{int(got['id'].duplicated().sum())}, max |diff| vs local {diff:.1e}; worker pids {before} -> {after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-cluster", action="store_true", help="only the local and in-process runs")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dnallm-ray-check-"))
    files = inputs(folder)
    address = f"127.0.0.1:{PORT}"
    engines = {"ray, in-process": ["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1",
                                   "--block-records", "64"]}
    if not options.no_cluster:
        subprocess.run(["ray", "start", "--head", "--num-cpus", "2", "--port", str(PORT), "--include-dashboard",
                        "false", "--disable-usage-stats"], check=True, capture_output=True)
        os.environ["RAY_AUTH_MODE"] = "token"  # `ray start` turns token authentication on; ~/.ray/auth_token
        engines["ray, local cluster"] = [*engines["ray, in-process"], "--ray-address", address]
    rows = []
    try:
        for name, (args, suffix, keys) in commands(files).items():
            local = folder / f"local{suffix}"
            seconds = {"local": run([*args, "-o", str(local)])}
            for engine, extra in engines.items():
                out = folder / f"{engine.replace(' ', '_').replace(',', '')}{suffix}"
                seconds[engine] = run([*args, "-o", str(out), *extra])
                n, same_keys, diff, same_skips = compare(out, local, keys)
                rows.append((name, engine, n, same_keys, diff, same_skips, seconds[engine], seconds["local"]))
                print(f"{name}: {engine}: {n} rows", file=sys.stderr)
        kill = None if options.no_cluster else killed_worker(address)
    finally:
        if not options.no_cluster:
            subprocess.run(["ray", "stop", "--force"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    print("| command | engine | rows | ids and order as local | max abs diff vs local | skipped list as local "
          "| s (ray / local, whole process) |")
    print("|---|---|---:|---|---:|---|---:|")
    for name, engine, n, same_keys, diff, same_skips, s_ray, s_local in rows:
        print(f"| {name} | {engine} | {n:,} | {'yes' if same_keys else 'NO'} | {diff:.1e} | "
              f"{'yes' if same_skips else 'NO'} | {s_ray:.1f} / {s_local:.1f} |")
    if kill:
        print(f"\n{kill}")


if __name__ == "__main__":
    main()
