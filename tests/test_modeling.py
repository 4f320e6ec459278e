"""The one attention-backend decision, device and dtype resolution, and the load log line."""

from __future__ import annotations

import importlib
import logging

import pytest
import torch
from transformers import BertForSequenceClassification, BigBirdForSequenceClassification, EsmForMaskedLM

from dnallm import DNAInference, DnallmError
from dnallm.heads import detect_head
from dnallm.modeling import (
    choose_attn_implementation,
    flash_attn_importable,
    resolve_device,
    resolve_dtype,
)

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
F32, BF16, F16 = torch.float32, torch.bfloat16, torch.float16


class FlashAndSdpa:
    _supports_flash_attn = True
    _supports_sdpa = True


class OldFlashAttr:  # remote code written for older transformers names the flag _supports_flash_attn_2
    _supports_flash_attn_2 = True
    _supports_sdpa = True


class SdpaOnly:
    _supports_sdpa = True


class Neither:
    pass


@pytest.mark.parametrize(
    "cls, flash, device, dtype, expected",
    [
        (FlashAndSdpa, True, CUDA, BF16, "flash_attention_2"),
        (FlashAndSdpa, True, CUDA, F16, "flash_attention_2"),
        (OldFlashAttr, True, CUDA, BF16, "flash_attention_2"),
        (FlashAndSdpa, True, CUDA, F32, "sdpa"),  # flash needs half precision
        (FlashAndSdpa, True, CPU, BF16, "sdpa"),  # flash needs CUDA
        (FlashAndSdpa, False, CUDA, BF16, "sdpa"),  # flash-attn not installed
        (SdpaOnly, True, CUDA, BF16, "sdpa"),  # the architecture has no flash path
        (SdpaOnly, False, CPU, F32, "sdpa"),
        (Neither, True, CUDA, BF16, "eager"),
        (Neither, False, CPU, F32, "eager"),
        (BertForSequenceClassification, True, CUDA, BF16, "flash_attention_2"),
        (BertForSequenceClassification, False, CPU, F32, "sdpa"),
        (EsmForMaskedLM, True, CUDA, F16, "flash_attention_2"),
        (BigBirdForSequenceClassification, True, CUDA, BF16, "eager"),  # BigBird supports neither
    ],
)
def test_decision_table(cls, flash, device, dtype, expected):
    choice, reason = choose_attn_implementation(cls, device, dtype, "auto", flash_available=flash)
    assert choice == expected
    assert reason


def test_reasons_name_every_blocker():
    _, reason = choose_attn_implementation(SdpaOnly, CPU, F32, "auto", flash_available=False)
    assert reason == (
        "not flash_attention_2: flash-attn is not installed; the device is cpu, not CUDA; "
        "the dtype is float32, not float16/bfloat16; SdpaOnly does not support it"
    )


def test_explicit_requests_are_checked():
    message = "flash_attention_2 cannot run: flash-attn is not installed; the device is cpu"
    with pytest.raises(DnallmError, match=message):
        choose_attn_implementation(FlashAndSdpa, CPU, F32, "flash_attention_2", flash_available=False)
    with pytest.raises(DnallmError, match="sdpa cannot run: BigBirdForSequenceClassification does not support it"):
        choose_attn_implementation(BigBirdForSequenceClassification, CPU, F32, "sdpa")
    assert choose_attn_implementation(FlashAndSdpa, CUDA, BF16, "eager", flash_available=True)[0] == "eager"
    assert choose_attn_implementation(FlashAndSdpa, CUDA, BF16, "flash_attention_2", True) == (
        "flash_attention_2", "asked for")
    with pytest.raises(DnallmError, match="unknown attention backend 'flash'"):
        choose_attn_implementation(FlashAndSdpa, CPU, F32, "flash")


def test_a_fake_importable_flash_attn_is_detected(tmp_path, monkeypatch):
    """flash-attn cannot be built here (it needs CUDA); an importable stand-in exercises the detection path."""
    assert not flash_attn_importable()
    package = tmp_path / "flash_attn"
    package.mkdir()
    (package / "__init__.py").write_text("__version__ = '2.8.3'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert flash_attn_importable()
    assert choose_attn_implementation(BertForSequenceClassification, CUDA, BF16)[0] == "flash_attention_2"
    # on this CPU machine the same model still gets sdpa: the device and dtype rule flash out
    assert choose_attn_implementation(BertForSequenceClassification, CPU, F32)[0] == "sdpa"


def test_loaded_backends_and_log_line(model_dirs, caplog):
    with caplog.at_level(logging.INFO, logger="dnallm"):
        bert = DNAInference(model_dirs["overlapping_kmer"])
    assert bert.attn_implementation == "sdpa" == bert.model.config._attn_implementation
    line = next(r.getMessage() for r in caplog.records if r.name == "dnallm.modeling")
    assert line.startswith(
        f"loaded {model_dirs['overlapping_kmer']}: BertForSequenceClassification, head classification, "
        "on cpu in float32; attention sdpa (not flash_attention_2: flash-attn is not installed"
    )
    bigbird = DNAInference(model_dirs["single_nucleotide"])
    assert bigbird.attn_implementation == "eager"
    eager = DNAInference(model_dirs["overlapping_kmer"], attn_implementation="eager")
    assert eager.model.config._attn_implementation == "eager"
    records = {"a": "ACGTTGCAATGCAAATTTGCAT" * 5, "b": "GGCATTACAGGACCA" * 3}
    assert (eager.predict(records)[["Mafk", "Oct4"]] - bert.predict(records)[["Mafk", "Oct4"]]).abs().max().max() < 1e-5
    with pytest.raises(DnallmError, match="sdpa cannot run"):
        DNAInference(model_dirs["single_nucleotide"], attn_implementation="sdpa")


def test_device_and_dtype():
    assert resolve_device("auto") == CPU  # no GPU on the test machines
    assert resolve_device("cpu") == CPU
    if not torch.cuda.is_available():
        with pytest.raises(DnallmError, match="sees no CUDA GPU; use --device cpu"):
            resolve_device("cuda")
    with pytest.raises(DnallmError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    assert resolve_dtype("auto", CPU) == F32
    assert resolve_dtype("bf16", CPU) == BF16
    with pytest.raises(DnallmError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", CPU)


def test_head_detection():
    from transformers import BertConfig

    def config(arch, **kw):
        return BertConfig(architectures=[arch], **kw)

    assert detect_head(config("BertForSequenceClassification", num_labels=2)) == "classification"
    assert detect_head(config("BertForSequenceClassification", num_labels=1)) == "regression"
    assert detect_head(config("BertForSequenceClassification", num_labels=3, problem_type="regression")) == "regression"
    assert detect_head(config("BertForSequenceClassification", num_labels=3,
                              problem_type="multi_label_classification")) == "multilabel"
    assert detect_head(config("EsmForMaskedLM")) == "masked_lm"
    assert detect_head(config("BertForPreTraining")) == "masked_lm"
    assert detect_head(config("HyenaDNAForCausalLM")) == "causal_lm"
    assert detect_head(config("BertModel")) == "encoder"
    with pytest.raises(DnallmError, match="does not know what BertForTokenClassification predicts"):
        detect_head(config("BertForTokenClassification"))
