"""Parquet output as a folder of part files (``<path>.partial/part-000000.parquet``, ...): each part is written
whole and renamed into place, the parts already there are read back on resume, and they are merged into the one
file at the destination when the run completes. pyarrow is imported only here, and only when used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from dnallm.errors import DnallmError


def write_part(folder: Path, frames: list[pd.DataFrame], index: int) -> int:
    """Write ``frames`` as one part at the first free number from ``index``; the number after it.

    A part is there whole or not at all (written under ``.tmp``, then renamed).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(exist_ok=True)
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    while (folder / f"part-{index:06d}.parquet").exists():
        index += 1
    final = folder / f"part-{index:06d}.parquet"
    tmp = final.with_suffix(".tmp")
    pq.write_table(table, str(tmp))
    os.replace(tmp, final)
    return index + 1


def read_parts(folder: Path, keys: list[str]) -> tuple[list[str], pd.DataFrame, int] | None:
    """The columns, the ``keys`` columns' values and the number of the parts in ``folder`` (a part being written
    when the run was killed is removed); None when there is no part."""
    import pyarrow.parquet as pq

    for leftover in folder.glob("*.tmp"):
        leftover.unlink()  # a part being written when the run was killed
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return None
    columns = pq.read_schema(parts[0]).names
    return columns, pd.concat([pd.read_parquet(p, columns=keys) for p in parts], ignore_index=True), len(parts)


def merge_parts(folder: Path, path: Path, columns: list[str]) -> None:
    """The parts in ``folder``, in order, as the one file ``path`` (renamed into place), then the folder removed;
    no part: a file of ``columns`` without rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    tmp = path.with_name(f".{path.name}.merging")
    if not parts:
        pq.write_table(pa.table({c: [] for c in columns}), str(tmp))
    else:
        schema = pq.read_schema(parts[0])
        with pq.ParquetWriter(str(tmp), schema) as out:
            for part in parts:
                out.write_table(pq.read_table(part, schema=schema))
    os.replace(tmp, path)
    shutil.rmtree(folder, ignore_errors=True)


def check_pyarrow() -> None:
    """Fail with what to install when pyarrow is missing.

    Raises:
        DnallmError: pyarrow cannot be imported.
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DnallmError(
            "Parquet output needs pyarrow: pip install 'dnallm[parquet]' (or write .tsv, .csv or .jsonl)"
        ) from None
