"""Helpers the test modules share, imported as ``from tests.support import ...``.

Running the `dnallm` command (in this process, or in a process of its own as a user runs it) and loading a
repository script (examples/, docs/) as a module. Fixtures live in tests/conftest.py; the tiny models, genome
windows and FASTA writing in dnallm.testing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from dnallm.testing import BUILDERS

REPO = Path(__file__).resolve().parent.parent
FAMILIES = list(BUILDERS)  # the tokenizer families, one tiny model each (conftest.py: model_dirs)


def dnallm_argv(*args: str) -> list[str]:
    """The command line of `dnallm ARGS` for this interpreter: ``python -m dnallm ARGS``."""
    return [sys.executable, "-m", "dnallm", *args]


def run_dnallm(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run `dnallm ARGS` in a process of its own; stdout and stderr captured as text unless ``kwargs`` route
    them elsewhere. Other ``kwargs`` (cwd, env, stdin, timeout) go to ``subprocess.run``."""
    if not {"stdout", "stderr"} & kwargs.keys():
        kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(dnallm_argv(*args), **kwargs)


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run `dnallm ARGV` in this process (``dnallm.cli.main``); return its exit code, stdout and stderr."""
    from dnallm.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_script(path: Path | str) -> ModuleType:
    """Import a script of the repository (``examples/run_notebooks.py``) by its path, as a module of its name."""
    path = REPO / path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses and pickle look a class's module up here
    spec.loader.exec_module(module)
    return module
