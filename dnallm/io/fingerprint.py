"""What a resumed run must share with the run that wrote the partial output (``--resume``): the model (and the
sizes and mtimes of a local model folder's files), the options, and each input's contents. A
:class:`~dnallm.io.writers.ResultWriter` keeps it in the run record and refuses a partial output written by
another run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dnallm.errors import DnallmError
from dnallm.io.files import check_path


def content_id(path: str) -> dict[str, Any]:
    """What identifies one input's contents: its real path, size (bytes), mtime (ns) and a SHA-256 of all its
    bytes (1.4 s per GB on 2 cores, see benchmarks/resume_fingerprint.py). A pipe or other non-regular file cannot be
    read twice, so it gets ``{"pipe": path}`` and the run is not resumable.

    Raises:
        InputError: the input is missing or unreadable (named as the reader names it).
    """
    if path != "-":
        check_path(Path(path))
    if not os.path.isfile(path):
        return {"pipe": path}
    real = os.path.realpath(path)
    with open(real, "rb") as fh:
        st = os.fstat(fh.fileno())
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"path": real, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def check_resumable(paths: Sequence[str], resume: bool) -> None:
    """A run with ``resume`` needs every input to be a regular file: a pipe's contents cannot be checked against
    the partial output.

    Raises:
        DnallmError: naming the pipes.
    """
    pipes = [p for p in paths if not os.path.isfile(p)]
    if resume and pipes:
        raise DnallmError(f"--resume: {', '.join(pipes)} is a pipe, not a file; a pipe's contents cannot be checked "
                          "against the partial output, so such a run cannot be resumed; write the input to a file "
                          "and run on the file")


def weights_id(model: str) -> list | None:
    """The identity of a local model folder's files: (relative name, size in bytes, mtime in ns) of every file,
    so that a resumed run refuses a partial output written with other weights, config or tokenizer. Reads no
    file contents (milliseconds); None for a hub name (the revision is in the fingerprint)."""
    if not os.path.isdir(model):
        return None
    files = []
    for root, dirs, names in os.walk(os.path.realpath(model)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            full = os.path.join(root, name)
            st = os.stat(full)
            files.append([os.path.relpath(full, model), st.st_size, st.st_mtime_ns])
    return files


def run_fingerprint(
    command: str,
    model: str,
    *,
    revision: str | None,
    dtype: str,
    inputs: Sequence[str] | None,
    iupac: str,
    uracil: str,
    on_error: str,
    both_strands: bool = False,
    overlap: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The fingerprint of one run.

    Args:
        command: ``predict`` or ``embed``.
        model: as given (a local folder is taken by its real path and its files' sizes and mtimes).
        revision: the hub revision, or None.
        dtype: the dtype the run will use, resolved on this machine (``float32``, not ``auto``), so that float32
            and bfloat16 rows never mix in one file; attention backends and batch sizes change results only by
            rounding and are left out.
        inputs: the input paths, each taken by its contents (see :func:`content_id`); None when the results go to
            standard output (no resume: the inputs are not read twice).
        iupac, uracil, on_error: the input policy.
        both_strands, overlap: the windowing options.
        extra: what else the command's results depend on (``per_window``, ``pooling``).
    """
    real_model = os.path.realpath(model) if os.path.isdir(model) else model
    return {"command": command, "model": real_model, "revision": revision, "weights": weights_id(model),
            "inputs": None if inputs is None else [content_id(path) for path in inputs], "iupac": iupac,
            "uracil": uracil, "on_error": on_error, "dtype": dtype, "both_strands": both_strands,
            "overlap": overlap, **extra}
