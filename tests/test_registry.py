"""models.yaml: schema, consistency of the facts, and the messages for broken entries or unknown names."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from dnallm import ModelSpec, RegistryError, get_spec, load_registry
from dnallm.registry import TOKENIZER_FAMILIES, find_spec, registry_path


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_at_least_15_real_models_of_every_family(registry):
    assert len(registry) >= 15
    assert {spec.tokenizer_family for spec in registry.values()} == set(TOKENIZER_FAMILIES)
    names = " ".join(registry)
    for family_member in ("dnabert-3", "dnabert-4", "dnabert-5", "dnabert-6", "dnabert-2", "grover",
                          "gena-lm-bigbird-base-t2t", "hyenadna-tiny-1k", "caduceus-ph-131k", "plantcaduceus-l32"):
        assert family_member in names
    assert any(n.startswith("nt-v2-") for n in registry) and any(n.startswith("nt-500m") for n in registry)
    assert any(n.startswith("plant") or n.startswith("agro") for n in registry)


def test_specs_are_frozen_and_complete(registry):
    for spec in registry.values():
        assert isinstance(spec, ModelSpec)
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.max_tokens = 1  # type: ignore[misc]
        assert spec.paper and spec.architecture
        assert (spec.hub_id is None) != (spec.path is None)
        if spec.hub_id is not None:  # hub facts come with the pages they were read from
            assert spec.source and all(url.startswith("https://") for url in spec.source)


def test_the_packaged_demo_model_is_inside_the_package(registry):
    from dnallm.registry import DEFAULT_MODEL, PACKAGE_DIR

    demo = registry[DEFAULT_MODEL]
    assert demo.path is not None and demo.hub_id is None
    location = Path(demo.location)
    assert location.is_dir() and location.resolve().is_relative_to(PACKAGE_DIR)
    assert (location / "config.json").is_file() and (location / "model.safetensors").is_file()


def test_lengths_agree_with_the_tokenizer_family(registry):
    """max_bp follows from max_tokens for the k-mer and single-nucleotide families (one or two specials)."""
    for spec in registry.values():
        if spec.tokenizer_family == "overlapping_kmer":  # [CLS] k-mers [SEP]: L - k + 1 + 2 tokens
            assert spec.max_bp == spec.max_tokens - 2 + spec.k - 1, spec.name
        elif spec.tokenizer_family == "nonoverlapping_kmer":  # <cls> then 6-mers
            assert abs(spec.max_bp - (spec.max_tokens - 1) * spec.k) <= spec.k, spec.name
        elif spec.tokenizer_family == "single_nucleotide":
            assert spec.max_tokens - 2 <= spec.max_bp <= spec.max_tokens, spec.name
        else:
            assert spec.k is None
            assert spec.max_bp is None or spec.max_bp > spec.max_tokens, spec.name


def test_big_bird_entries_carry_their_sparse_settings(registry):
    bigbirds = [s for s in registry.values() if s.architecture == "big_bird"]
    assert bigbirds
    for spec in bigbirds:
        assert spec.attention_type == "block_sparse" and spec.block_size and spec.num_random_blocks


def test_remote_code_models_are_flagged(registry):
    for name in ("hyenadna-tiny-1k", "caduceus-ph-131k", "dnabert-2", "nt-v2-50m-multi-species"):
        assert registry[name].trust_remote_code, name
    for name in ("dnabert-6", "nt-500m-human-ref", "gena-lm-bigbird-base-t2t"):
        assert not registry[name].trust_remote_code, name


def test_lookup_by_name_and_hub_id(registry):
    assert get_spec("DNABERT-6").hub_id == "zhihan1996/DNA_bert_6"
    assert get_spec("zhihan1996/dna_bert_6").name == "dnabert-6"
    assert find_spec("someone/unknown-model") is None
    with pytest.raises(RegistryError, match=r"unknown model name 'dnabert6'; did you mean 'dnabert-6'"):
        get_spec("dnabert6")
    with pytest.raises(RegistryError, match="run `dnallm models`"):
        get_spec("no-such-thing")


def test_registry_file_is_the_repository_one():
    assert registry_path().name == "models.yaml"


def _entry():
    """The first hub entry of models.yaml."""
    data = yaml.safe_load(registry_path().read_text())
    return copy.deepcopy(next(e for e in data["models"] if "hub_id" in e))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.pop("max_tokens"), "missing field"),
        (lambda e: e.update(colour="red"), "unknown field"),
        (lambda e: e.update(tokenizer_family="kmer"), "field 'tokenizer_family' must be one of"),
        (lambda e: e.update(k=None), "field 'k' must be an integer"),
        (lambda e: e.update(max_tokens=-5), "field 'max_tokens' must be a positive integer"),
        (lambda e: e.update(max_bp=None), "null only for the bpe family"),
        (lambda e: e.update(trust_remote_code="yes"), "true or false"),
        (lambda e: e.update(hub_id="not a hub id"), "Hugging Face id"),
        (lambda e: e.update(name="Has Spaces"), "lower case letters"),
        (lambda e: e.update(source="http://insecure"), "https URL"),
        (lambda e: e.update(path="models/x"), "exactly one of 'hub_id'"),
        (lambda e: (e.pop("hub_id"), e.update(path="../../etc")), "inside the dnallm package"),
        (lambda e: (e.pop("hub_id"), e.update(path="/tmp/model")), "inside the dnallm package"),
    ],
)
def test_schema_errors_name_the_entry_and_field(tmp_path, change, message):
    entry = _entry()
    change(entry)
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    with pytest.raises(RegistryError, match=message) as err:
        load_registry(path)
    assert f"{path}: models[0]" in str(err.value)


def test_duplicates_and_shape(tmp_path):
    path = tmp_path / "models.yaml"
    entry = _entry()
    path.write_text(yaml.safe_dump({"models": [entry, entry]}))
    with pytest.raises(RegistryError, match="is used twice"):
        load_registry(path)
    other = dict(entry, name="other")
    path.write_text(yaml.safe_dump({"models": [entry, other]}))
    with pytest.raises(RegistryError, match="is already registered as"):
        load_registry(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(RegistryError, match="top-level 'models:' list"):
        load_registry(path)
    path.write_text("models: [\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(path)
