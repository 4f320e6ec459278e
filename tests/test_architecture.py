"""Pieces that have one home now: model resolution, the input policy object, motif settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dnallm.errors import OptionError
from dnallm.io.options import InputOptions
from dnallm.motifs import MotifSettings
from dnallm.registry import is_explicit_path, load_registry
from dnallm.tokenization import load_tokenizer, load_tokenizer_from


def test_explicit_paths_are_told_from_names_and_hub_ids():
    for path in (Path("model"), "./model", "../m", "/abs/m", "~/m", ".\\m", "dir\\m"):
        assert is_explicit_path(path), path
    for name in ("dnabert-6", "InstaDeepAI/nucleotide-transformer-500m-human-ref", "model"):
        assert not is_explicit_path(name), name


def test_the_tokenizer_loader_never_reads_the_registry(model_dirs, tmp_path, monkeypatch):
    assert "dnabert-6" in load_registry()  # a registry name, which load_tokenizer maps to its hub id
    shutil.copytree(model_dirs["overlapping_kmer"], tmp_path / "dnabert-6")
    monkeypatch.chdir(tmp_path)
    tok = load_tokenizer_from("dnabert-6", family=None, k=None, max_tokens=None, trust_remote_code=False,
                              revision=None)
    # the folder was read (the registry would have sent the name to the hub, which this test cannot reach)
    assert tok.family == "overlapping_kmer" and len(tok.encode("ACGTACGTAC")) == 5 + tok.n_special
    assert load_tokenizer("./dnabert-6").family == tok.family


@pytest.mark.parametrize("bad, word", [(dict(iupac="x"), "iupac"), (dict(uracil="u"), "uracil"),
                                       (dict(on_error="ignore"), "on_error"), (dict(on_skip=3), "on_skip")])
def test_input_options_refuse_a_bad_value_naming_it(bad, word):
    with pytest.raises(OptionError, match=word):
        InputOptions(**bad)


@pytest.mark.parametrize("bad, word", [(dict(k=0), "k"), (dict(alpha=1.5), "alpha"), (dict(refine=2.0), "refine")])
def test_motif_settings_refuse_values_out_of_range(bad, word):
    with pytest.raises(OptionError, match=word):
        MotifSettings(**bad)
