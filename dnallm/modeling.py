"""Load a DNA language model and its tokenizer once; decide the attention backend once.

A model is named by a local directory, a models.yaml name or a Hugging Face hub id; :func:`load_model` resolves
the name once and returns everything decided at load in a :class:`LoadedModel`: the model in eval mode, its
:class:`~dnallm.DNATokenizer`, its head (what it computes: :mod:`dnallm.heads`), the device, the dtype, the
attention backend (:func:`choose_attn_implementation`, the one place that decides it) and the registry entry.
Weight files are checked before and after loading (:mod:`dnallm.weights`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnallm.errors import DnallmError, ModelLoadError
from dnallm.heads import HEADS, detect_head
from dnallm.registry import ModelSpec, hub_missing_error, is_explicit_path, resolve_model
from dnallm.tokenization import DNATokenizer, load_tokenizer_from, max_tokens_from_config
from dnallm.weights import check_loading_info, check_weights, no_unpickling, pickle_error

logger = logging.getLogger(__name__)

ATTENTION_BACKENDS = ("flash_attention_2", "sdpa", "eager")
_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


@dataclass
class LoadedModel:
    """A model ready for inference, with everything decided at load.

    Attributes:
        model: the transformers model, in eval mode, on ``device``.
        tokenizer: its :class:`~dnallm.DNATokenizer`.
        head: what it computes, a :data:`dnallm.heads.HEADS` name.
        spec: its models.yaml entry, or None.
        trained_length_bp: ``(shortest, longest)`` bp it was trained on (config.json's
            ``dnallm_trained_length_bp``), or None.
    """

    model: Any
    tokenizer: DNATokenizer
    head: str
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    spec: ModelSpec | None = None
    trained_length_bp: tuple[int, int] | None = None


# ---------------------------------------------------------------------------------------------------------------
# device, dtype, attention backend


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else Apple MPS, else CPU. Otherwise as given (``"cpu"``, ``"cuda:1"``)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise DnallmError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DnallmError(f"device {device!r} was asked for, but this PyTorch build sees no CUDA GPU; use --device cpu")
    return resolved


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"``: float32 on CPU and MPS; bfloat16 on a CUDA GPU that supports it, else float16."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in _DTYPES:
        raise DnallmError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return _DTYPES[dtype]


def flash_attn_importable() -> bool:
    """Whether the ``flash_attn`` package can be imported (it is built against CUDA; there is no CPU build)."""
    return importlib.util.find_spec("flash_attn") is not None


def choose_attn_implementation(
    model_class: type,
    device: torch.device,
    dtype: torch.dtype,
    requested: str = "auto",
    flash_available: bool | None = None,
) -> tuple[str, str]:
    """The one place that decides the attention backend.

    ``auto``: ``flash_attention_2`` when flash-attn is importable, the device is CUDA, the dtype is float16 or
    bfloat16 and the architecture supports it; else ``sdpa`` where the architecture supports it; else ``eager``.
    An explicit request is checked against the same conditions and refused with the reason.

    Returns:
        (backend, reason): the reason is the sentence dnallm logs.
    """
    name = model_class.__name__
    supports_flash = bool(getattr(model_class, "_supports_flash_attn", False)
                          or getattr(model_class, "_supports_flash_attn_2", False))
    supports_sdpa = bool(getattr(model_class, "_supports_sdpa", False))
    flash_available = flash_attn_importable() if flash_available is None else flash_available
    half = dtype in (torch.float16, torch.bfloat16)

    flash_blockers = []
    if not flash_available:
        flash_blockers.append("flash-attn is not installed")
    if device.type != "cuda":
        flash_blockers.append(f"the device is {device.type}, not CUDA")
    if not half:
        flash_blockers.append(f"the dtype is {str(dtype).removeprefix('torch.')}, not float16/bfloat16")
    if not supports_flash:
        flash_blockers.append(f"{name} does not support it")

    if requested == "flash_attention_2":
        if flash_blockers:
            raise DnallmError(f"flash_attention_2 cannot run: {'; '.join(flash_blockers)}")
        return "flash_attention_2", "asked for"
    if requested == "sdpa":
        if not supports_sdpa:
            raise DnallmError(f"sdpa cannot run: {name} does not support it; use --attn eager or auto")
        return "sdpa", "asked for"
    if requested == "eager":
        return "eager", "asked for"
    if requested != "auto":
        raise DnallmError(f"unknown attention backend {requested!r}; use auto, {', '.join(ATTENTION_BACKENDS)}")

    if not flash_blockers:
        return "flash_attention_2", f"flash-attn installed, CUDA, {str(dtype).removeprefix('torch.')}"
    if supports_sdpa:
        return "sdpa", f"not flash_attention_2: {'; '.join(flash_blockers)}"
    return "eager", f"{name} supports neither flash_attention_2 nor sdpa"


# ---------------------------------------------------------------------------------------------------------------
# loading


def load_model(model: str | Path, *, device: str | torch.device = "auto", dtype: str | torch.dtype = "auto",
               attn_implementation: str = "auto", trust_remote_code: bool = False, revision: str | None = None,
               tokenizer_family: str | None = None, k: int | None = None, max_tokens: int | None = None,
               allow_pickle: bool = False, window_overlap: int | None = None) -> LoadedModel:
    """Load a model and its tokenizer for inference; see :class:`dnallm.DNAInference` for the arguments."""
    name = str(model)
    if not name.strip():
        raise ModelLoadError(
            "the model name is empty; pass a local directory, a models.yaml name (dnallm models) or a hub id "
            "(./ for the current folder)"
        )
    source, spec = resolve_model(model)  # the only place the name is resolved
    _check_source(model, source, spec, trust_remote_code, allow_pickle)
    offline = False
    if not Path(source).exists() and "/" in source:
        offline = _check_hub(name, source, revision)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    with _hub_offline(offline):
        config = _read_config(name, source, trust_remote_code, revision)
        head = detect_head(config)
        auto_class = getattr(__import__("transformers"), HEADS[head].auto_class)
        model_class = _model_class(config, auto_class, source, trust_remote_code, revision)
        backend, reason = choose_attn_implementation(model_class, device, dtype, attn_implementation)
        if max_tokens is None:
            max_tokens = spec.max_tokens if spec is not None else max_tokens_from_config(config)
        tokenizer = load_tokenizer_from(
            source, family=tokenizer_family or (spec.tokenizer_family if spec else None),
            k=k if k is not None else (spec.k if spec else None), max_tokens=max_tokens,
            trust_remote_code=trust_remote_code, revision=revision, name=name,
        )
        check_overlap(window_overlap, tokenizer.max_content_tokens)
        loader = auto_class if trust_remote_code else model_class
        net, info = _load_weights(loader, name, source, dtype, backend, revision, trust_remote_code, allow_pickle)
    head = check_loading_info(net, info, name, head)
    net.to(device).eval()
    logger.info("loaded %s: %s, head %s, on %s in %s; attention %s (%s)", name, type(net).__name__, head, device,
                str(dtype).removeprefix("torch."), backend, reason)
    return LoadedModel(net, tokenizer, head, device, dtype, backend, spec, trained_length(config, name))


def _check_source(model: str | Path, source: str, spec: ModelSpec | None, trust_remote_code: bool,
                  allow_pickle: bool) -> None:
    """Refuse, before anything is read, a file, a missing explicit path, an unread remote-code model, a folder
    that is not a saved model and weights that are not safe to open."""
    name = str(model)
    if spec is not None and spec.trust_remote_code and not trust_remote_code:
        raise _remote_code_error(name, source)
    path = Path(source)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{name}: no config.json; a model directory is written by model.save_pretrained()")
        check_weights(path, allow_pickle)  # also reads config.json: invalid JSON is named here
    elif path.exists():
        raise ModelLoadError(f"{name}: is a file; a model is a directory (config.json, weights, tokenizer files)")
    elif is_explicit_path(model):
        raise ModelLoadError(f"{name}: no such model directory; check the path")


def _read_config(name: str, source: str, trust_remote_code: bool, revision: str | None) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise _remote_code_error(name, source) from None
        raise ModelLoadError(f"{name}: cannot read its config.json ({exc})") from None
    except OSError as exc:
        if Path(source).is_dir():
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelLoadError(f"{Path(source) / 'config.json'}: cannot read it ({first})") from None
        raise hub_missing_error(name, source, exc) from None


def _load_weights(loader: Any, name: str, source: str, dtype: torch.dtype, backend: str, revision: str | None,
                  trust_remote_code: bool, allow_pickle: bool) -> tuple[Any, dict]:
    """The model and transformers' loading report (missing, unexpected and mismatched tensors)."""
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": backend, "revision": revision,
                              "output_loading_info": True, "ignore_mismatched_sizes": True}
    if not allow_pickle:
        kwargs["use_safetensors"] = True  # never unpickle weights unless the user said so
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    with _quiet_transformers(), no_unpickling(name, allow_pickle):
        try:
            return loader.from_pretrained(source, **kwargs)
        except DnallmError:
            raise
        except OSError as exc:
            if not allow_pickle and "safetensors" in str(exc).lower():
                raise pickle_error(name) from None
            raise ModelLoadError(f"cannot load the weights of '{name}' ({str(exc).splitlines()[0]})") from None
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load the weights of '{name}' ({first})") from None


def _model_class(config: Any, auto_class: Any, source: str, trust_remote_code: bool, revision: str | None) -> type:
    auto_map = getattr(config, "auto_map", None) or {}
    if auto_class.__name__ in auto_map and not trust_remote_code:
        raise _remote_code_error(source, f"{auto_class.__name__} -> {auto_map[auto_class.__name__]}")
    if trust_remote_code and auto_class.__name__ in auto_map:
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        return get_class_from_dynamic_module(auto_map[auto_class.__name__], source, revision=revision)
    try:
        return auto_class._model_mapping[type(config)]
    except KeyError:
        raise ModelLoadError(
            f"{source}: transformers has no {auto_class.__name__.removeprefix('AutoModel') or 'base'} class for "
            f"model type '{config.model_type}'"
        ) from None


def _remote_code_error(model: str, source: str) -> ModelLoadError:
    return ModelLoadError(
        f"'{model}' runs Python code from its repository ({source}), which dnallm does not execute unless asked: "
        "read that code, then pass trust_remote_code=True (CLI: --trust-remote-code)"
    )


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No per-tensor 'Loading weights' progress bar from transformers while dnallm loads a model."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # dnallm checks the load report itself (check_loading_info)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if was_enabled:
            hf_logging.enable_progress_bar()


_NO_HUB = "check the name and the network, or set HF_HUB_OFFLINE=1 and pass a local directory"


def _check_hub(name: str, source: str, revision: str | None) -> bool:
    """Before transformers tries (and retries, for about 26 s) to download from a hub that cannot be reached:
    with ``HF_HUB_OFFLINE`` set, the model must be in the local Hugging Face cache; otherwise one metadata request
    (10 s timeout) tells an unknown repository, a missing revision and no network apart. Returns True when the
    hub cannot be reached but the cache holds the model: the caller then loads it offline from the cache.

    Raises:
        ModelLoadError: one line, with what to do.
    """
    from huggingface_hub import constants, model_info, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    cached = isinstance(try_to_load_from_cache(source, "config.json", revision=revision), str)
    if constants.HF_HUB_OFFLINE:
        if cached:
            return False
        raise ModelLoadError(
            f"cannot load '{name}': it is not a local directory, and with HF_HUB_OFFLINE set only models in the "
            "Hugging Face cache load, which this one is not; check the name, unset HF_HUB_OFFLINE to download it, "
            "or pass a local directory"
        )
    try:
        model_info(source, revision=revision, timeout=10)
    except GatedRepoError:
        return False  # transformers says what access it needs
    except RevisionNotFoundError:
        raise ModelLoadError(
            f"cannot load '{name}': the hub repository '{source}' has no revision '{revision}'"
        ) from None
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"cannot load '{name}': it is not a local directory and the Hugging Face hub has no model '{source}' "
            "(or it is private: log in with `hf auth login`); check the name (`dnallm models` lists known ones) "
            "or pass a local directory"
        ) from None
    except Exception as exc:  # no network, DNS, proxy, timeout: the HTTP client's own exception classes
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if cached:
            logger.warning("the Hugging Face hub cannot be reached (%s); loading '%s' from the local cache", reason,
                           source)
            return True
        raise ModelLoadError(
            f"cannot load '{name}': it is not a local directory and the Hugging Face hub cannot be reached "
            f"({reason}); {_NO_HUB}"
        ) from None
    return False


@contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """huggingface_hub's offline mode for the duration of one load (the model comes from the cache)."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    was = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = was


def check_overlap(overlap: int | None, width: int | None) -> None:
    """Refuse a window overlap the model's windows cannot have (``width``: sequence tokens per window)."""
    if overlap is None:
        return
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)):
        raise DnallmError(f"window_overlap must be a whole number of tokens, not {overlap!r}")
    if width is not None and not 0 <= overlap < width:
        raise DnallmError(
            f"window_overlap={overlap}: consecutive windows can share 0 to {width - 1} tokens (this model's windows "
            f"hold {width} sequence tokens); the default is a tenth of a window ({width // 10})"
        )
    if overlap < 0:
        raise DnallmError(f"window_overlap={overlap}: an overlap is 0 or more tokens")


def trained_length(config: Any, name: str) -> tuple[int, int] | None:
    """``(shortest, longest)`` bp of the training sequences, from config.json's ``dnallm_trained_length_bp``."""
    value = getattr(config, "dnallm_trained_length_bp", None)
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple)) or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value) or value[0] > value[1]
    ):
        raise DnallmError(
            f"{name}: config.json's dnallm_trained_length_bp must be [shortest, longest] in bp (two positive whole "
            f"numbers, shortest first), not {value!r}; fix or remove it"
        )
    return int(value[0]), int(value[1])
