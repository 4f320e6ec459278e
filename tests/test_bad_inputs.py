"""The bad-input matrix (tests/bad_input_cases.py) through `dnallm predict` and through DNAInference.predict.

Every case ends in a documented policy (one row per record, values equal to the plainly written records) or in
one line naming the file, line or record and what to do, exit code 2, no traceback, nothing at the output path.
The demo model is the model: it is what `dnallm predict` runs when no model is named.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

import dnallm
from dnallm import DnallmError
from dnallm.cli import main
from dnallm.io.writers import read_results
from tests.bad_input_cases import CASES, Case, model_args, write_input
from tests.support import run_dnallm, run_main


def _drop_file_read_override() -> None:
    """Clear CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this process's effective set (capget/capset through
    libc): the process stays root, so the installed package and its files under /root stay readable, but a mode-0
    file is refused to it as it is to any user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words
    if libc.capget(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    data[0] &= ~((1 << 1) | (1 << 2))  # effective, low word: CAP_DAC_OVERRIDE = 1, CAP_DAC_READ_SEARCH = 2
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _unreadable_as_root(path: Path, argv: list[str], demo: dnallm.DNAInference) -> tuple[int, str]:
    """root reads every file: run the case's `dnallm predict` and DNAInference.predict in a forked child that has
    given up root's right to read any file (the parent keeps it, its modules and the loaded demo model)."""
    out = Path(argv[3])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop the capabilities, run the command, report exit code and stderr
        try:
            os.close(read_end)
            _drop_file_read_override()
            import contextlib
            import io

            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(argv)
                try:
                    demo.predict(str(path))
                    api = "no error"
                except DnallmError as exc:
                    api = str(exc)
            os.write(write_end, f"{code}\n{err.getvalue().strip()}\n{api}".encode())
        except BaseException as exc:  # report, never return into pytest from the child
            os.write(write_end, f"-1\n{type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        text = fh.read()
    os.waitpid(pid, 0)
    written = sorted(p.name for p in out.parent.iterdir())
    code, line, api = text.split("\n", 2)
    assert not written, written  # nothing at the output path, no partial file
    return int(code), line + "\n" + api


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, demo):
    path = write_input(case, tmp_path)
    out = tmp_path / "out" / "predictions.tsv"
    out.parent.mkdir()
    argv = ["predict", str(path), "-o", str(out), "-q", *model_args(case, tmp_path), *case.args]

    if case.kind == "unreadable":
        path.chmod(0)
        if os.geteuid() == 0:
            code, seen = _unreadable_as_root(path, argv, demo)
            assert code == 2, seen
            for part in case.error:
                assert seen.count(part) == 2, seen  # the CLI line and the API message
            return
    code, stdout, stderr = run_main(argv, capsys)

    leftovers = sorted(p.name for p in out.parent.iterdir())
    if case.error:
        lines = stderr.strip().splitlines()
        assert code == 2, stderr
        assert len(lines) == 1 and lines[0].startswith("dnallm: error: "), stderr
        for part in case.error:
            assert part in lines[0], lines[0]
        assert "Traceback" not in stderr and stdout == ""
        assert leftovers == [], leftovers  # nothing half-written, no partial output
        # the Python API raises the same message
        with pytest.raises(DnallmError) as info:
            if case.kind.startswith("model"):
                dnallm.DNAInference(argv[argv.index("-m") + 1])
            else:
                demo.predict(str(path), iupac="error" if "--iupac" in case.args else "n")
        for part in case.error:
            assert part in " ".join(str(info.value).split())
        return

    assert code == 0, stderr
    assert leftovers == ["predictions.tsv"]
    rows = read_results(out)
    assert tuple(rows["id"]) == case.ids  # one row per record, in order
    api = demo.predict(str(path))
    assert np.abs(api[demo.output_columns].to_numpy() - rows[demo.output_columns].to_numpy()).max() < 1e-6
    if case.clean is not None:
        clean = tmp_path / "clean.fa"
        clean.write_bytes(case.clean)
        expected = demo.predict(str(clean))
        assert tuple(expected["length"]) == tuple(rows["length"])
        assert np.abs(expected[demo.output_columns].to_numpy() - rows[demo.output_columns].to_numpy()).max() < 1e-6
    if case.name == "N runs":
        assert tuple(rows["length"]) == (240, 230)
    if case.name == "record longer than any window":
        window_bp = demo.tokenizer.max_tokens - demo.tokenizer.n_special + demo.tokenizer.k - 1
        assert rows["n_windows"][0] >= math.ceil(5000 / window_bp) and rows["length"][0] == 5000
        windows = demo.predict(str(path), per_window=True)
        assert windows["start"].iloc[0] == 0 and windows["end"].iloc[-1] == 5000
        assert (windows["start"].to_numpy()[1:] < windows["end"].to_numpy()[:-1]).all()  # overlapping: no gap


@pytest.mark.parametrize("name", ["binary data", "unknown model name"])
def test_a_real_subprocess_prints_one_line(name, tmp_path):
    case = next(c for c in CASES if c.name == name)
    path = write_input(case, tmp_path)
    result = run_dnallm("predict", str(path), "-o", str(tmp_path / "o.tsv"), *case.args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("dnallm: error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "o.tsv").exists()
