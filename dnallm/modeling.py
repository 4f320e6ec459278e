"""Load a DNA language model and its tokenizer; decide the attention backend once; keep BigBird honest.

A model is named by a local directory, a models.yaml name or a Hugging Face hub id. Loading detects what the
model's head computes, which decides what ``DNAInference.predict`` returns:

==================  ==================================================  =============================================
head                detected from                                       ``predict`` columns
==================  ==================================================  =============================================
``classification``  ``*ForSequenceClassification``, 2+ labels          one probability per label (softmax), named
                                                                        from ``id2label``
``multilabel``      ``problem_type == "multi_label_classification"``    one probability per label (sigmoid)
``regression``      ``num_labels == 1`` or ``problem_type ==            ``value`` (or ``value_<label>`` for several)
                    "regression"``
``masked_lm``       ``*ForMaskedLM``, ``*ForPreTraining``               ``mean_log_prob``: mean over the record's
                                                                        tokens of log p(token), nothing masked
``causal_lm``       ``*ForCausalLM``                                    ``mean_log_prob``: mean log p(token | the
                                                                        tokens before it)
``encoder``         a bare encoder (``*Model``)                         none: ``predict`` says to use ``embed``
==================  ==================================================  =============================================
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dnallm.errors import DnallmError, ModelLoadError
from dnallm.registry import ModelSpec, resolve_model
from dnallm.tokenization import DNATokenizer, load_tokenizer, max_tokens_from_config

logger = logging.getLogger(__name__)

HEADS = ("classification", "multilabel", "regression", "masked_lm", "causal_lm", "encoder")
ATTENTION_BACKENDS = ("flash_attention_2", "sdpa", "eager")
_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


@dataclass
class LoadedModel:
    """A model ready for inference, with everything decided at load."""

    model: Any
    tokenizer: DNATokenizer
    head: str
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    attn_reason: str
    source: str
    spec: ModelSpec | None


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
# heads and classes


def detect_head(config: Any) -> str:
    """What the model computes, from its config; see the module docstring."""
    archs = getattr(config, "architectures", None) or []
    arch = archs[0] if archs else ""
    problem = getattr(config, "problem_type", None)
    if arch.endswith("ForSequenceClassification"):
        if problem == "regression" or config.num_labels == 1:
            return "regression"
        if problem == "multi_label_classification":
            return "multilabel"
        return "classification"
    if arch.endswith(("ForMaskedLM", "ForPreTraining")):
        return "masked_lm"
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        return "causal_lm"
    if arch.endswith("Model") or not arch:
        return "encoder"
    raise ModelLoadError(
        f"dnallm does not know what {arch} predicts; it runs sequence classifiers and regressors, masked and causal "
        "language models, and bare encoders (for embed)"
    )


def _auto_class(head: str) -> Any:
    import transformers

    return {
        "classification": transformers.AutoModelForSequenceClassification,
        "multilabel": transformers.AutoModelForSequenceClassification,
        "regression": transformers.AutoModelForSequenceClassification,
        "masked_lm": transformers.AutoModelForMaskedLM,
        "causal_lm": transformers.AutoModelForCausalLM,
        "encoder": transformers.AutoModel,
    }[head]


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


_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")
_SAFE = "model.safetensors"
_SAFE_INDEX = "model.safetensors.index.json"


def _read_json(path: Path, what: str) -> Any:
    """A JSON file of a model folder, or a one-line error naming the file and the place of the fault."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc}); {what}") from None


def weight_files(folder: Path) -> list[Path]:
    """The weight files transformers opens for a local model folder, in the order it looks for them: the file
    config.json names in ``transformers_weights``, else ``model.safetensors``, else every file named in the
    ``weight_map`` of ``model.safetensors.index.json``, else the pickle files (``pytorch_model.bin`` and shards).

    Raises:
        ModelLoadError: an index that is not valid JSON, or names a file outside the folder or not there.
    """
    config = _read_json(folder / "config.json", "fix or re-save it with model.save_pretrained()")
    explicit = config.get("transformers_weights") if isinstance(config, dict) else None
    if isinstance(explicit, str) and explicit:
        index = folder / explicit if explicit.endswith(".index.json") else None
        if index is None:
            return [folder / explicit]
    elif (folder / _SAFE).is_file():
        return [folder / _SAFE]
    elif (folder / _SAFE_INDEX).is_file():
        index = folder / _SAFE_INDEX
    else:
        pickles = [folder / n for n in _PICKLE_WEIGHTS if (folder / n).is_file()]
        return pickles + sorted(folder.glob("pytorch_model-*.bin"))
    data = _read_json(index, "re-save the model with model.save_pretrained()")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelLoadError(f"{index}: no 'weight_map' of tensor names to files; re-save the model")
    files = []
    for name in dict.fromkeys(str(v) for v in weight_map.values()):
        file = (folder / name).resolve()
        if not file.is_relative_to(folder.resolve()):
            raise ModelLoadError(f"{index}: the weight_map names {name}, outside {folder}; re-save the model")
        if not file.is_file():
            raise ModelLoadError(f"{index}: the weight_map names {name}, which is not in {folder}")
        files.append(folder / name)
    return files


def check_weights(folder: Path, allow_pickle: bool) -> None:
    """Check, before anything is opened, that every weight file transformers will open for this folder is a
    readable safetensors file (header and size checked), unless the user allows pickles for non-safetensors ones.
    """
    files = weight_files(folder)
    if not files:
        raise ModelLoadError(
            f"{folder}: no weights (model.safetensors); a model directory is written by model.save_pretrained()"
        )
    for file in files:
        if file.name.endswith(".safetensors"):
            _check_safetensors(file)
        elif not allow_pickle:
            via = ""
            config = _read_json(folder / "config.json", "fix or re-save it with model.save_pretrained()")
            if isinstance(config, dict) and config.get("transformers_weights"):
                via = " (named by transformers_weights in config.json)"
            elif (folder / _SAFE_INDEX).is_file() and not (folder / _SAFE).is_file():
                via = f" (named in the weight_map of {_SAFE_INDEX})"
            raise _pickle_error(str(folder), file.name + via)


def _check_safetensors(file: Path) -> None:
    """Open the file's header: a truncated, empty or garbage file is refused with one line."""
    from safetensors import safe_open

    try:
        size = file.stat().st_size
        if size < 8:
            raise ValueError(f"{size} bytes, too short for a safetensors header")
        with safe_open(str(file), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # safetensors raises its own SafetensorError or OSError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"{file}: not a readable safetensors file ({reason}); it is damaged or incomplete: download or save "
            "it again"
        ) from None


@contextmanager
def _no_unpickling(name: str, allow_pickle: bool) -> Iterator[None]:
    """While transformers loads weights, ``torch.load`` (the only way it reads a pickle) refuses, unless the user
    allows pickles: a hub repository or a path that the checks above did not foresee cannot unpickle anything."""
    if allow_pickle:
        yield
        return
    original = torch.load

    def refuse(f: Any, *args: Any, **kwargs: Any) -> Any:
        raise _pickle_error(name, Path(str(f)).name if isinstance(f, (str, Path)) else "a pickle file")

    torch.load = refuse
    try:
        yield
    finally:
        torch.load = original


def _pickle_error(model: str, file: str = "pytorch_model.bin") -> ModelLoadError:
    return ModelLoadError(
        f"'{model}' has its weights only as {file}, a Python pickle: loading a pickle can run code hidden in it, "
        "so dnallm loads safetensors weights only. If you trust where the file comes from, pass allow_pickle=True "
        "(CLI: --allow-pickle), or convert it once: model.save_pretrained(folder, safe_serialization=True)"
    )


def _remote_code_error(model: str, source: str) -> ModelLoadError:
    return ModelLoadError(
        f"'{model}' runs Python code from its repository ({source}), which dnallm does not execute unless asked: "
        "read that code, then pass trust_remote_code=True (CLI: --trust-remote-code)"
    )


# ---------------------------------------------------------------------------------------------------------------
# loading


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


def _few(names: Any, n: int = 3) -> str:
    names = sorted(names)
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _in_base(net: Any, key: str) -> bool:
    """Whether a tensor name belongs to the base model's encoder (what embed uses), not to a task head or pooler."""
    prefix = getattr(net, "base_model_prefix", "") or ""
    base = net.base_model
    if base is not net:
        if not key.startswith(prefix + "."):
            return False
        key = key[len(prefix) + 1:]
    elif prefix and key.startswith(prefix + "."):
        key = key[len(prefix) + 1:]
    top = key.split(".", 1)[0]
    return top != "pooler" and top in dict(base.named_children())


def check_loading_info(net: Any, info: dict, name: str, head: str) -> str:
    """Refuse weights that leave part of the model random; returns the head to use.

    The rule (docs/predict.md, "Loading a model safely"): a tensor of the model that the weights lack or give with
    another shape makes outputs random, so loading stops, naming a few of them and their count, with one exception:
    when only the task head (and pooler) is missing, the encoder is pretrained: the model loads as a bare encoder,
    ``embed`` works and ``predict`` refuses. Tensors in the file that the model does not use are fine when they
    belong to a head or pooler it lacks (an LM head in an encoder's file); inside the encoder they mean that the
    config describes a smaller model than the weights (fewer layers), so loading stops. Tied weights (an MLM
    decoder tied to the embeddings) are not missing.
    """
    cls = type(net).__name__
    mismatched = sorted(info.get("mismatched_keys") or ())
    if mismatched:
        key, got, wanted = (list(mismatched[0]) + [None, None])[:3]  # (name, in the weights, in the model)
        raise ModelLoadError(
            f"{name}: {len(mismatched)} tensor(s) of {cls} have another shape in the weights than config.json says "
            f"({_few(m[0] for m in mismatched)}; {key}: weights {tuple(got) if got else '?'}, config "
            f"{tuple(wanted) if wanted else '?'}): config.json and the weights do not belong together; use the "
            "config.json saved with these weights"
        )
    missing = set(info.get("missing_keys") or ())
    unexpected = {k for k in info.get("unexpected_keys") or () if _in_base(net, k)}
    in_base = {k for k in missing if _in_base(net, k)}
    if in_base:
        raise ModelLoadError(
            f"{name}: {len(in_base)} tensor(s) of {cls} are not in the weights ({_few(in_base)}), so they would be "
            "random: config.json describes a larger or different model than the weights (num_hidden_layers, "
            "model type); use the config.json saved with these weights"
        )
    if unexpected:
        raise ModelLoadError(
            f"{name}: {len(unexpected)} tensor(s) in the weights have no place in {cls} ({_few(unexpected)}): "
            "config.json describes a smaller model than the weights (num_hidden_layers); use the config.json saved "
            "with these weights"
        )
    if missing:
        if head == "encoder":
            logger.info("%s: the pooler is not in the weights (%s); embed does not use it", name, _few(missing))
            return head
        logger.warning(
            "%s: the weights have no %s head (%s not in the weights): its encoder is pretrained but the head would "
            "be random, so it loads as a bare encoder: embed works, predict refuses", name, head, _few(missing),
        )
        return "encoder"
    return head


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


def load_model(model: str | Path, **options: Any) -> LoadedModel:
    """Load a model and its tokenizer for inference; see :class:`dnallm.DNAInference` for the arguments."""
    name = str(model)
    if not name.strip():
        raise ModelLoadError(
            "the model name is empty; pass a local directory, a models.yaml name (dnallm models) or a hub id "
            "(./ for the current folder)"
        )
    source, spec = resolve_model(model)
    offline = False
    if spec is not None and spec.trust_remote_code and not options.get("trust_remote_code"):
        raise _remote_code_error(name, source)
    if not Path(source).exists() and "/" in source and not source.startswith(("/", ".", "~")):
        offline = _check_hub(name, source, options.get("revision"))
    with _hub_offline(offline):
        return _load_model(model, **options)


def _load_model(
    model: str | Path,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    attn_implementation: str = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
    tokenizer_family: str | None = None,
    k: int | None = None,
    max_tokens: int | None = None,
    allow_pickle: bool = False,
) -> LoadedModel:
    from transformers import AutoConfig

    name = str(model)
    source, spec = resolve_model(model)
    local = Path(source).is_dir()
    if not local:
        if Path(source).exists():
            raise ModelLoadError(f"{name}: is a file; a model is a directory (config.json, weights, tokenizer files)")
        if isinstance(model, Path) or name.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name:
            raise ModelLoadError(f"{name}: no such model directory; check the path")
        if spec is not None and spec.trust_remote_code and not trust_remote_code:
            raise _remote_code_error(name, source)
    else:
        if not (Path(source) / "config.json").is_file():
            raise ModelLoadError(f"{name}: no config.json; a model directory is written by model.save_pretrained()")
        check_weights(Path(source), allow_pickle)  # also reads config.json: invalid JSON is named here

    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise _remote_code_error(name, source) from None
        raise ModelLoadError(f"{name}: cannot read its config.json ({exc})") from None
    except OSError as exc:
        if local:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelLoadError(f"{Path(source) / 'config.json'}: cannot read it ({first})") from None
        raise ModelLoadError(
            f"cannot load '{name}': it is not a local directory and the Hugging Face hub did not provide "
            f"'{source}' ({str(exc).splitlines()[0]}); check the name and your network, or pass a local directory"
        ) from None

    head = detect_head(config)
    auto_class = _auto_class(head)
    model_class = _model_class(config, auto_class, source, trust_remote_code, revision)
    backend, reason = choose_attn_implementation(model_class, device, dtype, attn_implementation)

    if max_tokens is None:
        max_tokens = spec.max_tokens if spec is not None else max_tokens_from_config(config)
    tokenizer = load_tokenizer(
        source,
        tokenizer_family=tokenizer_family or (spec.tokenizer_family if spec else None),
        k=k if k is not None else (spec.k if spec else None),
        max_tokens=max_tokens,
        trust_remote_code=trust_remote_code,
        revision=revision,
    )
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": backend, "revision": revision,
                              "output_loading_info": True, "ignore_mismatched_sizes": True}
    if not allow_pickle:
        kwargs["use_safetensors"] = True  # never unpickle weights unless the user said so
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    with _quiet_transformers(), _no_unpickling(name, allow_pickle):
        loader = auto_class if trust_remote_code else model_class
        try:
            net, info = loader.from_pretrained(source, **kwargs)
        except DnallmError:
            raise
        except OSError as exc:
            if not allow_pickle and "safetensors" in str(exc).lower():
                raise _pickle_error(name) from None
            raise ModelLoadError(f"cannot load the weights of '{name}' ({str(exc).splitlines()[0]})") from None
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load the weights of '{name}' ({first})") from None
    head = check_loading_info(net, info, name, head)
    net.to(device).eval()
    logger.info(
        "loaded %s: %s, head %s, on %s in %s; attention %s (%s)",
        name, type(net).__name__, head, device, str(dtype).removeprefix("torch."), backend, reason,
    )
    return LoadedModel(net, tokenizer, head, device, dtype, backend, reason, source, spec)


# ---------------------------------------------------------------------------------------------------------------
# BigBird: block-sparse for long inputs, without transformers' permanent switch to full attention


def _bigbird_base(model: Any) -> Any | None:
    config = getattr(model, "config", None)
    if getattr(config, "attention_type", None) != "block_sparse":
        return None
    for module in model.modules():
        if hasattr(module, "set_attention_type") and hasattr(module, "encoder") and hasattr(module, "attention_type"):
            return module
    return None


def bigbird_full_attention_limit(config: Any) -> int:
    """Inputs of at most this many tokens cannot run block-sparse: (5 + 2 * random blocks) * block size."""
    return (5 + 2 * config.num_random_blocks) * config.block_size


@contextmanager
def attention_type_for(model: Any, seq_len: int) -> Iterator[str | None]:
    """Run one BigBird forward with the attention type its input length allows, then restore the configured one.

    transformers switches a block-sparse BigBird to full attention for good after a single input of at most
    ``bigbird_full_attention_limit`` tokens. dnallm switches for that batch only, so later long inputs run
    block-sparse again. Yields the attention type in force (None for other models).
    """
    base = _bigbird_base(model)
    if base is None:
        yield None
        return
    configured = model.config.attention_type
    needed = "original_full" if seq_len <= bigbird_full_attention_limit(model.config) else configured
    base.set_attention_type(needed)
    try:
        yield needed
    finally:
        base.set_attention_type(configured)


class _BigBirdTorch:
    """Stands in for ``torch`` inside transformers' BigBird module: the same module, except that while a thread
    runs :func:`no_bigbird_attention_map`, the one four-dimensional floating-point ``torch.zeros`` of that module,
    the dense (batch, heads, tokens, tokens) attention map that block-sparse attention fills in for display, is
    allocated on the ``meta`` device: shapes only, no memory, no work. Everything else goes to torch unchanged."""

    def __init__(self, module: Any):
        self._torch = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._torch, name)

    def zeros(self, *size: Any, **kwargs: Any) -> Any:
        dense_map = len(size) == 4 and all(isinstance(n, int) for n in size)
        dtype = kwargs.get("dtype") or self._torch.get_default_dtype()
        if dense_map and dtype.is_floating_point and getattr(_skip_dense_map, "on", False):
            kwargs["device"] = "meta"
        return self._torch.zeros(*size, **kwargs)


_skip_dense_map = threading.local()


@contextmanager
def no_bigbird_attention_map(model: Any) -> Iterator[None]:
    """Predictions and embeddings need no attention map: transformers' block-sparse BigBird builds a dense one
    (0.8 GB per layer for 4,096 tokens and 12 heads) in every forward pass: a large share of its time on a CPU
    (benchmarks/README.md, "pure, dense map").
    Within this block, in this thread, that map is shapes only (see :class:`_BigBirdTorch`)."""
    if _bigbird_base(model) is None:
        yield
        return
    import sys

    module = sys.modules.get("transformers.models.big_bird.modeling_big_bird")
    if module is not None and not isinstance(module.torch, _BigBirdTorch):
        module.torch = _BigBirdTorch(module.torch)
    _skip_dense_map.on = True
    try:
        yield
    finally:
        _skip_dense_map.on = False
