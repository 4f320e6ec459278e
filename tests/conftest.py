"""Shared fixtures: tiny real models of every tokenizer family saved once per test session, and the demo model
loaded once. Shared plain helpers are in tests/support.py; the model builders in dnallm.testing."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

from dnallm import testing  # noqa: E402


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict:
    """family -> directory of a saved tiny model and its tokenizer."""
    root = tmp_path_factory.mktemp("models")
    return {family: build(root / family) for family, build in testing.BUILDERS.items()}


@pytest.fixture(scope="session")
def tokenizers(model_dirs) -> dict:
    """family -> DNATokenizer loaded through dnallm.load_tokenizer, the path a user takes."""
    import dnallm

    return {family: dnallm.load_tokenizer(path) for family, path in model_dirs.items()}


@pytest.fixture(scope="session")
def data_dir():
    return testing.DATA


@pytest.fixture(scope="session")
def demo():
    """The embedded demo model (what `dnallm predict` runs when no model is named), loaded once."""
    import dnallm

    return dnallm.DNAInference()
