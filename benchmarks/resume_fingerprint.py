"""What --resume's input fingerprint and the changed-input check cost: writes a FASTA of --gb gigabytes (default 1)
to a temporary folder and times fingerprint.content_id (the SHA-256 of the input's bytes, paid once at the start
of every predict/embed run with -o FILE), weights_id on a model folder (sizes and mtimes, no contents), and the
end-of-file change check of the reader (two stat calls).

    python benchmarks/resume_fingerprint.py [--gb 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from dnallm.io.files import check_unchanged, file_state
from dnallm.io.fingerprint import content_id, weights_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.0, help="FASTA size in GB (10^9 bytes)")
    args = parser.parse_args()
    line = (b"ACGTTGCAAGCT" * 7)[:80] + b"\n"
    record = b">r%d\n" + line * 50
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.fa"
        target = int(args.gb * 1e9)
        with open(path, "wb") as fh:
            n = 0
            while fh.tell() < target:
                fh.write(b"".join(record % (n + i) for i in range(1000)))
                n += 1000
        size = path.stat().st_size
        with open(path, "rb") as fh:  # warm the page cache once, as a rerun after a stop finds it
            while fh.read(1 << 24):
                pass
        t = time.perf_counter()
        ident = content_id(str(path))
        hashed = time.perf_counter() - t
        folder = Path(tmp) / "model"
        folder.mkdir()
        for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"):
            (folder / name).write_bytes(b"x" * 1000)
        t = time.perf_counter()
        for _ in range(100):
            weights_id(str(folder))
        weights = (time.perf_counter() - t) / 100
        state = file_state(path)
        t = time.perf_counter()
        for _ in range(1000):
            check_unchanged(path, state)
        check = (time.perf_counter() - t) / 1000
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"input: {size / 1e9:.2f} GB FASTA, {n:,} records (page cache warm)")
    print(f"input fingerprint (SHA-256 of the bytes): {hashed:.2f} s ({size / 1e9 / hashed:.2f} GB/s); "
          f"sha256 {ident['sha256'][:12]}...")
    print(f"model folder fingerprint (4 files, sizes + mtimes): {weights * 1e3:.3f} ms")
    print(f"changed-input check at end of file: {check * 1e6:.1f} us")


if __name__ == "__main__":
    main()
