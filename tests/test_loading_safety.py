"""Loading a model safely: no pickle is opened without permission, no tensor is silently random, and damaged
model folders, an empty model name and an unreachable hub end in one line (exit 2), never a traceback."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

import dnallm
from dnallm import DnallmError, ModelLoadError, testing
from dnallm.cli import main
from tests.support import run_dnallm

PEAKS = str(testing.DATA / "peaks.fa")
RECORDS = {"a": "ACGTTGCAATGCAAATTTGCAT" * 5, "b": "GGCATTACAGGACCA" * 3}


@pytest.fixture
def bert(tmp_path, model_dirs):
    """A copy of the tiny DNABERT classifier, to break."""
    return shutil.copytree(model_dirs["overlapping_kmer"], tmp_path / "bert")


@pytest.fixture(scope="session")
def mlm_dir(tmp_path_factory):
    """A tiny DNABERT masked LM (decoder tied to the word embeddings)."""
    return testing.build_dnabert(tmp_path_factory.mktemp("mlm") / "mlm", head="masked_lm")


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _drop_tensors(folder, prefix):
    weights = load_file(folder / "model.safetensors")
    kept = {k: v for k, v in weights.items() if not k.startswith(prefix)}
    assert len(kept) < len(weights)
    save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})


def _one_error_line(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("dnallm: error: "), err
    assert "Traceback" not in err and "LOAD REPORT" not in err
    return lines[0]


def _as_pickle_behind_index(folder):
    weights = load_file(folder / "model.safetensors")
    torch.save(weights, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {k: "pytorch_model.bin" for k in weights}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


# --- 14.1: pickles -----------------------------------------------------------------------------------------------


def test_an_index_naming_a_pickle_is_refused(bert, model_dirs, capsys):
    expected = dnallm.DNAInference(model_dirs["overlapping_kmer"]).predict(RECORDS)
    _as_pickle_behind_index(bert)
    with pytest.raises(ModelLoadError, match=r"pytorch_model.bin \(named in the weight_map of "
                       r"model.safetensors.index.json\), a Python pickle.*allow_pickle=True"):
        dnallm.DNAInference(bert)
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", str(bert), "-q"])
    assert "--allow-pickle" in line
    allowed = dnallm.DNAInference(bert, allow_pickle=True).predict(RECORDS)
    assert np.allclose(allowed[["Mafk", "Oct4"]], expected[["Mafk", "Oct4"]], atol=1e-6)


def test_config_transformers_weights_naming_a_pickle_is_refused(bert):
    weights = load_file(bert / "model.safetensors")
    torch.save(weights, bert / "adapter_model.bin")
    _edit_config(bert, transformers_weights="adapter_model.bin")
    with pytest.raises(ModelLoadError,
                       match=r"adapter_model.bin \(named by transformers_weights in config.json\), a Python pickle"):
        dnallm.DNAInference(bert)


def test_an_index_naming_a_missing_or_outside_file_is_refused(bert, tmp_path):
    weights = load_file(bert / "model.safetensors")
    (bert / "model.safetensors").rename(tmp_path / "outside.safetensors")
    index = {"weight_map": {k: "../outside.safetensors" for k in weights}}
    (bert / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=r"weight_map names ../outside.safetensors, outside"):
        dnallm.DNAInference(bert)
    index["weight_map"] = {k: "model-00001.safetensors" for k in weights}
    (bert / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="names model-00001.safetensors, which is not in"):
        dnallm.DNAInference(bert)


def test_torch_load_refuses_while_a_model_loads():
    """Whatever path transformers takes (a hub repository's shards included), torch.load cannot unpickle during
    a load without allow_pickle, and works again afterwards."""
    from dnallm.weights import no_unpickling

    original = torch.load
    with no_unpickling("some/model", allow_pickle=False):
        with pytest.raises(ModelLoadError, match="'some/model'.*shard.bin, a Python pickle"):
            torch.load("/somewhere/shard.bin")
    assert torch.load is original


# --- 14.2: missing, unexpected and mismatched tensors -------------------------------------------------------------


def test_a_classifier_without_its_head_loads_as_an_encoder_only(bert, model_dirs, capsys, caplog):
    _drop_tensors(bert, "classifier.")
    with caplog.at_level("WARNING", logger="dnallm"):
        inf = dnallm.DNAInference(bert)
    assert inf.head == "encoder"
    assert "no classification head (classifier.bias, classifier.weight not in the weights)" in caplog.text
    with pytest.raises(DnallmError, match="nothing to predict; use embed"):
        inf.predict(RECORDS)
    ids, emb = inf.embed(RECORDS)
    ref_ids, ref = dnallm.DNAInference(model_dirs["overlapping_kmer"]).embed(RECORDS)
    assert list(ids) == list(ref_ids) and np.allclose(emb, ref, atol=1e-6)  # the encoder is the pretrained one
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", str(bert), "-q"])
    assert "nothing to predict" in line


@pytest.mark.parametrize("layers, message", [
    (4, r"32 tensor\(s\) of BertForSequenceClassification are not in the weights "
        r"\(bert.encoder.layer.2.attention"),
    (1, r"tensor\(s\) in the weights have no place in BertForSequenceClassification "
        r"\(bert.encoder.layer.1.attention"),
])
def test_config_and_weights_of_different_depth_are_refused(bert, capsys, layers, message):
    _edit_config(bert, num_hidden_layers=layers)
    with pytest.raises(ModelLoadError, match=message):
        dnallm.DNAInference(bert)
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", str(bert), "-q"])
    assert "and " in line and "more" in line  # a few names, then the count of the rest


def test_a_shape_mismatch_is_refused_in_one_line(bert, capsys):
    _edit_config(bert, intermediate_size=48)
    with pytest.raises(ModelLoadError, match=r"have another shape in the weights than config.json says .*"
                       r"bert.encoder.layer.0.intermediate.dense.bias: weights \(64,\), config \(48,\)"):
        dnallm.DNAInference(bert)
    _one_error_line(capsys, ["predict", PEAKS, "-m", str(bert), "-q"])


def test_a_missing_encoder_tensor_is_refused(bert):
    _drop_tensors(bert, "bert.encoder.layer.1.output.dense.weight")
    with pytest.raises(ModelLoadError, match=r"1 tensor\(s\) of BertForSequenceClassification are not in the "
                       r"weights \(bert.encoder.layer.1.output.dense.weight\)"):
        dnallm.DNAInference(bert)


def test_tied_decoder_is_not_missing_and_a_bare_encoder_ignores_the_lm_head(mlm_dir, tmp_path, caplog):
    with caplog.at_level("INFO", logger="dnallm"):
        mlm = dnallm.DNAInference(mlm_dir)
    assert mlm.head == "masked_lm" and "not in the weights" not in caplog.text
    weights = load_file(mlm_dir / "model.safetensors")
    assert not any(k.endswith("decoder.weight") for k in weights)  # tied: saved once, as the embeddings
    # the same weights read as a bare encoder: the LM head in the file is unused, which is fine
    encoder = shutil.copytree(mlm_dir, tmp_path / "encoder")
    _edit_config(encoder, architectures=["BertModel"])
    ids, emb = dnallm.DNAInference(encoder).embed(RECORDS)
    _, ref = mlm.embed(RECORDS)
    assert np.allclose(emb, ref, atol=1e-6)
    # the MLM without its LM head: embed only
    _drop_tensors(encoder, "cls.")
    _edit_config(encoder, architectures=["BertForMaskedLM"])
    assert dnallm.DNAInference(encoder).head == "encoder"


# --- 14.11: damaged files and an empty name -----------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_safetensors_file_is_one_line(bert, capsys, damage):
    file = bert / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x89PNG" * 1000}[damage])
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", str(bert), "-q"])
    assert f"{file}: not a readable safetensors file" in line and "download or save it again" in line


@pytest.mark.parametrize("text", ["{not json", '{"version": "1.0", "model": {"type": "nonsense"}}'])
def test_an_invalid_tokenizer_json_is_one_line(tmp_path, model_dirs, capsys, text):
    folder = shutil.copytree(model_dirs["bpe"], tmp_path / "bpe")
    (folder / "tokenizer.json").write_text(text)
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", str(folder), "-q"])
    assert f"{folder / 'tokenizer.json'}: not a valid tokenizer.json" in line


def test_an_invalid_config_json_is_named(bert, capsys):
    (bert / "config.json").write_text('{"model_type": "bert",')
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", str(bert), "-q"])
    assert f"{bert / 'config.json'}: not valid JSON" in line and "not a local directory" not in line


def test_an_empty_model_name_is_refused(capsys, tmp_path, monkeypatch, model_dirs):
    monkeypatch.chdir(model_dirs["overlapping_kmer"])  # a model folder: "" must not mean "."
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", "", "-q"])
    assert "the model name is empty" in line
    with pytest.raises(ModelLoadError, match="the model name is empty"):
        dnallm.DNAInference(" ")


# --- 14.22: the hub cannot be reached ------------------------------------------------------------------------------


@pytest.mark.parametrize("offline", [True, False])
def test_an_unreachable_or_unknown_hub_id_is_one_quick_line(capsys, monkeypatch, offline):
    """With HF_HUB_OFFLINE: refused at once (not in the cache). Without it, on a machine with no route to the hub
    (or where the hub has no such repository): one line within seconds, where transformers retried for ~26 s."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    start = time.perf_counter()
    line = _one_error_line(capsys, ["predict", PEAKS, "-m", "nobody-dnallm/no-such-model-xyz", "-q"])
    assert time.perf_counter() - start < 15
    assert "cannot load 'nobody-dnallm/no-such-model-xyz'" in line
    assert ("HF_HUB_OFFLINE" in line) if offline else ("HF_HUB_OFFLINE=1" in line or "no model" in line)


# --- 14.25: what each registered model outputs --------------------------------------------------------------------


def test_models_lists_the_head_and_the_predict_columns(capsys):
    assert main(["models", "--tsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split("\t")
    assert header[-2:] == ["head", "predict gives"] and "remote code" in header
    rows = {r.split("\t")[0]: dict(zip(header, r.split("\t"))) for r in lines[1:]}
    assert rows["dnabert-6"]["head"] == "masked_lm" and rows["dnabert-6"]["predict gives"] == "mean_log_prob"
    assert rows["hyenadna-tiny-1k"]["head"] == "causal_lm" and rows["hyenadna-tiny-1k"]["remote code"] == "yes"
    demo = dnallm.DNAInference()  # the registry's claim about the packaged model, against what loading detects
    assert rows["demo-oct4-mafk"]["head"] == demo.head == "classification"
    columns = [c for c in demo.predict({"a": "ACGT" * 50}).columns if c not in ("id", "length", "n_windows")]
    assert rows["demo-oct4-mafk"]["predict gives"].startswith(", ".join(columns))


def test_registry_head_field_is_checked(tmp_path):
    from dnallm.registry import load_registry

    entry = ("models:\n- {name: x, path: models/x, architecture: bert, tokenizer_family: bpe, k: null, "
             "max_tokens: 10, max_bp: null, trust_remote_code: false, license: null, paper: p, head: %s}\n")
    (tmp_path / "m.yaml").write_text(entry % "causal_lm")
    assert load_registry(tmp_path / "m.yaml")["x"].predict_columns == "mean_log_prob"
    (tmp_path / "m.yaml").write_text(entry % "logits")
    with pytest.raises(dnallm.RegistryError, match="field 'head' must be one of classification"):
        load_registry(tmp_path / "m.yaml")


def test_a_cached_hub_model_loads_when_the_hub_cannot_be_reached(tmp_path, model_dirs):
    """A model in the Hugging Face cache, the hub unreachable (no route here; HF_HUB_OFFLINE unset) or offline
    mode set: it loads from the cache, with one warning line in the first case. Needs a real process: the cache
    folder is read from the environment when huggingface_hub is imported."""
    import os

    repo = tmp_path / "cache" / "models--someone--tiny-bert"
    shutil.copytree(model_dirs["overlapping_kmer"], repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    expected = dnallm.DNAInference(model_dirs["overlapping_kmer"]).predict(PEAKS)
    for offline in ("0", "1"):
        env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE=offline)
        result = run_dnallm("predict", PEAKS, "-m", "someone/tiny-bert", "-q", "-o", str(tmp_path / f"out{offline}.tsv"),
                            env=env)
        lines = result.stderr.strip().splitlines()
        if offline == "0" and result.returncode == 2:  # a machine that reaches the hub: it has no such repository
            assert len(lines) == 1 and "the Hugging Face hub has no model 'someone/tiny-bert'" in lines[0]
            continue
        assert result.returncode == 0, result.stderr
        got = pd.read_csv(tmp_path / f"out{offline}.tsv", sep="\t")
        assert np.allclose(got[["Mafk", "Oct4"]], expected[["Mafk", "Oct4"]], atol=1e-6)
        if offline == "1":
            assert lines == []
        else:
            assert len(lines) == 1 and "cannot be reached" in lines[0] and "from the local cache" in lines[0]
