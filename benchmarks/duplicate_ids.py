"""Time of reading a FASTA file with repeated ids under on_error="skip" (each repeat is reported and skipped).

    python benchmarks/duplicate_ids.py [DUPLICATES ...]     # default: 1000 8000

The file: 20,000 distinct records of 100 bp, then DUPLICATES records repeating ids from that start. Timed:
``list(dnallm.iter_records(path, on_error="skip", on_skip=...))`` (the reader's duplicate check alone, no model).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def main(sizes: list[int]) -> None:
    import dnallm

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| duplicates | records in file | skipped | seconds |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"dup{n}.fa"
            with open(path, "w") as fh:
                for i in range(20_000):
                    fh.write(f">r{i}\n{'ACGT' * 25}\n")
                for i in range(n):
                    fh.write(f">r{i % 20_000}\n{'ACGT' * 25}\n")
            skipped = []
            start = time.perf_counter()
            records = list(dnallm.iter_records(path, on_error="skip", on_skip=skipped.append))
            seconds = time.perf_counter() - start
            assert len(records) == 20_000 and len(skipped) == n
            print(f"| {n:,} | {20_000 + n:,} | {len(skipped):,} | {seconds:.2f} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 8000])
