"""Checks on a run's output paths, made before anything is loaded or written: no output is one of the inputs or
another output of the same run (same real path, hard link or symlink target), and each can be written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from dnallm.errors import DnallmError
from dnallm.io.formats import npz_partial
from dnallm.io.skiplog import skip_list_path


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: the same real path (symlinks followed) or, both existing, the same inode
    and device (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_collisions(outputs: Sequence[tuple[str, str]], inputs: Iterable[str]) -> None:
    """No output (``(option, path)`` pairs) is one of ``inputs`` or another of the outputs.

    Raises:
        DnallmError: naming the option, the output and what it would overwrite.
    """
    inputs = list(inputs)
    for label, path in outputs:
        for source in inputs:
            if same_file(path, source):
                raise DnallmError(f"{label} {path} is the input {source}: writing it would destroy the input; "
                                  "choose another output name")
    for i, (label, path) in enumerate(outputs):
        for other_label, other in outputs[:i]:
            if same_file(path, other):
                raise DnallmError(f"{label} {path} is also the {other_label} output {other}: one file cannot hold "
                                  "both; choose different names")


def result_outputs(output: str | None, on_error: str, skipped: str | None) -> list[tuple[str, str]]:
    """Every file a run of predict or embed writes, with the option that names it: the results (``output``;
    None or ``"-"`` for stdout), their partial output and run record (or the ``.npz``'s temporary file), and
    under ``on_error="skip"`` the list of skipped records (``skipped``, or its default) and its temporary file."""
    out: list[tuple[str, str]] = []
    if output not in (None, "-"):
        if str(output).lower().endswith(".npz"):
            out += [("-o", output), ("-o (its temporary file)", str(npz_partial(output)))]
        else:
            out += [("-o", output), ("-o (its partial output)", f"{output}.partial"),
                    ("-o (its resume record)", f"{output}.partial.json")]
    target = skip_list_path(output, skipped) if on_error == "skip" else None
    if target is not None:
        label = "--skipped" if skipped is not None else "the skipped list"
        out += [(label, target), (f"{label} (its temporary file)", f"{target}.partial")]
    return out


def check_file_target(path: Path, label: str) -> None:
    """A file can be written at ``path``: it is not a folder and its folder exists and is writable.

    Raises:
        DnallmError: starting with ``label`` (the path, or the option and the path).
    """
    if path.is_dir():
        raise DnallmError(f"{label}: is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise DnallmError(f"{label}: the folder {parent} does not exist; create it first or write elsewhere")
    if not os.access(parent, os.W_OK):
        raise DnallmError(f"{label}: the folder {parent} is not writable by this user")


def check_output_file(
    path: str, flag: str, inputs: Sequence[str], others: Sequence[tuple[str, str | None]] = ()
) -> None:
    """``path`` (given with ``flag``) can be written, as a result file can: its folder exists and is writable,
    it is not a folder, not one of ``inputs`` and not another output of the run (``others``: (flag, path) pairs,
    a None path left out).

    Raises:
        DnallmError: naming the flag and the path.
    """
    check_file_target(Path(path), f"{flag} {path}")
    refuse_collisions([*((f, o) for f, o in others if o is not None), (flag, path)], inputs)


def check_output_folder(out: Path, names: Sequence[str], inputs: Sequence[str]) -> None:
    """The ``-o`` folder ``out`` exists as a writable folder, or can be made (its nearest existing parent is a
    writable folder), and none of the files ``names`` it will hold is an input.

    Raises:
        DnallmError: naming the folder.
    """
    if out.exists() and not out.is_dir():
        raise DnallmError(f"-o {out}: exists and is not a folder; -o names the folder for the results")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DnallmError(f"-o {out}: {existing} is a file, not a folder; the results folder cannot be made there")
    if not os.access(existing, os.W_OK):
        raise DnallmError(f"-o {out}: the folder {existing} is not writable by this user")
    refuse_collisions([(f"-o {out}:", str(out / name)) for name in names], inputs)
