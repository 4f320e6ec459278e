"""Checks that a model's weights are safe to open and whole once loaded.

Before loading: :func:`check_weights` lists every weight file transformers would open for a local folder and
refuses pickles (unless allowed) and damaged safetensors files; :func:`no_unpickling` makes ``torch.load`` refuse
while a model loads, for hub repositories and paths not foreseen. After loading: :func:`check_loading_info`
refuses weights that leave part of the model random (docs/predict.md, "Loading a model safely").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from dnallm.errors import ModelLoadError
from dnallm.heads import ENCODER

logger = logging.getLogger(__name__)

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
            raise pickle_error(str(folder), file.name + via)


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
def no_unpickling(name: str, allow_pickle: bool) -> Iterator[None]:
    """While transformers loads weights, ``torch.load`` (the only way it reads a pickle) refuses, unless the user
    allows pickles: a hub repository or a path that the checks above did not foresee cannot unpickle anything."""
    if allow_pickle:
        yield
        return
    original = torch.load

    def refuse(f: Any, *args: Any, **kwargs: Any) -> Any:
        raise pickle_error(name, Path(str(f)).name if isinstance(f, (str, Path)) else "a pickle file")

    torch.load = refuse
    try:
        yield
    finally:
        torch.load = original


def pickle_error(model: str, file: str = "pytorch_model.bin") -> ModelLoadError:
    return ModelLoadError(
        f"'{model}' has its weights only as {file}, a Python pickle: loading a pickle can run code hidden in it, "
        "so dnallm loads safetensors weights only. If you trust where the file comes from, pass allow_pickle=True "
        "(CLI: --allow-pickle), or convert it once: model.save_pretrained(folder, safe_serialization=True)"
    )


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
        if head == ENCODER:
            logger.info("%s: the pooler is not in the weights (%s); embed does not use it", name, _few(missing))
            return head
        logger.warning(
            "%s: the weights have no %s head (%s not in the weights): its encoder is pretrained but the head would "
            "be random, so it loads as a bare encoder: embed works, predict refuses", name, head, _few(missing),
        )
        return ENCODER
    return head
