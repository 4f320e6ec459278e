"""The registry of known DNA language models: ``models.yaml`` -> :class:`ModelSpec`.

``models.yaml`` sits at the root of the source tree and ships inside the wheel as ``dnallm/models.yaml``.
Every hub entry's facts come from the model's card, config or paper, named in its ``source`` field. A packaged
entry (``path``) names a model directory inside the dnallm package, such as the embedded demo model.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from collections.abc import Callable
from typing import Any

import yaml

from dnallm.errors import ModelLoadError, RegistryError

TOKENIZER_FAMILIES = ("overlapping_kmer", "nonoverlapping_kmer", "bpe", "single_nucleotide")
KMER_FAMILIES = ("overlapping_kmer", "nonoverlapping_kmer")

#: the model DNAInference() and `dnallm predict` use when none is named: it ships inside the package
DEFAULT_MODEL = "demo-oct4-mafk"
logger = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class ModelSpec:
    """What dnallm knows about one pretrained DNA language model.

    Attributes:
        name: the short name a user types (``dnallm predict -m NAME``).
        hub_id: the Hugging Face repository id (None for a packaged model).
        architecture: the config's ``model_type`` (``bert``, ``esm``, ``big_bird``, ``hyenadna``, ...).
        tokenizer_family: one of :data:`TOKENIZER_FAMILIES`.
        k: k-mer length for the k-mer families, else None.
        max_tokens: the longest input in tokens, special tokens included.
        max_bp: bp that fit in ``max_tokens``: exact for k-mer and single-nucleotide families, approximate for
            BPE, None where a BPE model's card states none.
        trust_remote_code: whether loading needs the repository's own Python code.
        license: the license on the model card, or None where the card states none.
        paper: the reference to cite.
        source: the pages the facts were read from (hub models).
        path: for a model shipped inside dnallm, its directory relative to the package.
    """

    name: str
    hub_id: str | None
    architecture: str
    tokenizer_family: str
    k: int | None
    max_tokens: int
    max_bp: int | None
    trust_remote_code: bool
    license: str | None
    paper: str
    source: tuple[str, ...]
    model_class: str | None = None
    species: str | None = None
    parameters: str | None = None
    attention_type: str | None = None
    block_size: int | None = None
    num_random_blocks: int | None = None
    notes: str | None = None
    path: str | None = None
    head: str | None = None
    outputs: str | None = None

    @property
    def task_head(self) -> str:
        """What the model's head computes (the heads of ``dnallm.modeling``): the ``head`` field, else read from
        ``model_class``: ``*ForMaskedLM``/``*ForPreTraining`` masked_lm, ``*ForCausalLM``/``*LMHeadModel``
        causal_lm, ``*ForSequenceClassification`` classification, a bare ``*Model`` encoder. At load, dnallm
        decides from the model's own config.json (``architectures``), which this mirrors."""
        if self.head is not None:
            return self.head
        cls = self.model_class or ""
        if cls.endswith(("ForMaskedLM", "ForPreTraining")):
            return "masked_lm"
        if cls.endswith(("ForCausalLM", "LMHeadModel")):
            return "causal_lm"
        if cls.endswith("ForSequenceClassification"):
            return "classification"
        return "encoder"

    @property
    def predict_columns(self) -> str:
        """The columns ``predict`` adds for this model: the ``outputs`` field, else what its head gives."""
        if self.outputs is not None:
            return self.outputs
        return {
            "masked_lm": "mean_log_prob", "causal_lm": "mean_log_prob", "encoder": "none (embed only)",
            "classification": "p per label", "multilabel": "p per label", "regression": "value",
        }[self.task_head]

    @property
    def location(self) -> str:
        """Where the files are: the packaged directory, or the hub id.

        A packaged path must resolve (symbolic links followed) to a directory inside the dnallm package: a name
        never loads files from anywhere else.
        """
        if self.path is not None:
            base = PACKAGE_DIR.resolve()
            target = (PACKAGE_DIR / self.path).resolve()
            if not target.is_relative_to(base):
                raise RegistryError(
                    f"models.yaml entry '{self.name}': path '{self.path}' leads to {target}, outside the dnallm "
                    "package; a packaged model must live inside it (reinstall dnallm)"
                )
            return str(target)
        assert self.hub_id is not None
        return self.hub_id


_REQUIRED = ("name", "architecture", "tokenizer_family", "k", "max_tokens", "max_bp",
             "trust_remote_code", "license", "paper")
_FIELDS = {f.name for f in fields(ModelSpec)}


def registry_path() -> Path:
    """The models.yaml in use: inside the installed package, else at the root of a source checkout."""
    packaged = resources.files("dnallm").joinpath("models.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / "models.yaml"
    if checkout.is_file():
        return checkout
    raise RegistryError("models.yaml is missing from the dnallm installation; reinstall dnallm")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _urls(value: Any) -> bool:
    value = [value] if isinstance(value, str) else value
    return isinstance(value, list) and all(str(s).startswith("https://") for s in value)


def _packaged_path(value: Any) -> bool:
    return (isinstance(value, str) and not Path(value).is_absolute() and ".." not in Path(value).parts
            and value.startswith("models/"))


def _k_fits(k: Any, entry: dict) -> bool:
    if entry["tokenizer_family"] in KMER_FAMILIES:
        return isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 8
    return k is None


_HEADS = ("classification", "multilabel", "regression", "masked_lm", "causal_lm", "encoder")

#: (field, test(value, entry), what the value must be): checked in this order on every field the entry has
_RULES: tuple[tuple[str, Callable[[Any, dict], bool], Callable[[dict], str]], ...] = (
    ("name", lambda v, e: _text(v), lambda e: "a non-empty string"),
    ("architecture", lambda v, e: _text(v), lambda e: "a non-empty string"),
    ("paper", lambda v, e: _text(v), lambda e: "a non-empty string"),
    ("name", lambda v, e: bool(_NAME.fullmatch(v)), lambda e: "lower case letters, digits, '.', '_' or '-'"),
    ("hub_id", lambda v, e: isinstance(v, str) and bool(_HUB_ID.fullmatch(v)),
     lambda e: "a Hugging Face id 'owner/name'"),
    ("path", lambda v, e: _packaged_path(v), lambda e: "a directory under models/ inside the dnallm package"),
    ("tokenizer_family", lambda v, e: v in TOKENIZER_FAMILIES, lambda e: f"one of {', '.join(TOKENIZER_FAMILIES)}"),
    ("k", _k_fits, lambda e: ("an integer from 1 to 8" if e["tokenizer_family"] in KMER_FAMILIES else "null")
     + f" for the {e['tokenizer_family']} family"),
    ("max_tokens", lambda v, e: _positive_int(v), lambda e: "a positive integer"),
    ("max_bp", lambda v, e: _positive_int(v) or (v is None and e["tokenizer_family"] == "bpe"),  # BPE: bp vary
     lambda e: "a positive integer (null only for the bpe family)"),
    ("trust_remote_code", lambda v, e: isinstance(v, bool), lambda e: "true or false"),
    ("license", lambda v, e: v is None or (isinstance(v, str) and bool(v)), lambda e: "a license id or null"),
    ("source", lambda v, e: _urls(v), lambda e: "an https URL or a list of them"),
    ("source", lambda v, e: "hub_id" not in e or bool(v), lambda e: "at least one https URL for a hub model"),
    ("head", lambda v, e: v is None or v in _HEADS, lambda e: f"one of {', '.join(_HEADS)}"),
    ("outputs", lambda v, e: v is None or _text(v), lambda e: "a non-empty string (the predict columns)"),
    ("block_size", lambda v, e: v is None or (isinstance(v, int) and v > 0), lambda e: "a positive integer or null"),
    ("num_random_blocks", lambda v, e: v is None or (isinstance(v, int) and v > 0),
     lambda e: "a positive integer or null"),
)


def _check_entry(entry: Any, where: str) -> ModelSpec:
    """One models.yaml entry as a ModelSpec, or a RegistryError naming ``where`` and the field at fault."""
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a mapping of fields, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise RegistryError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(_FIELDS))}"
        )
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise RegistryError(f"{where}: missing field(s) {', '.join(missing)}")
    if ("hub_id" in entry) == ("path" in entry):
        raise RegistryError(f"{where}: give exactly one of 'hub_id' (a hub model) or 'path' (a packaged model)")
    if "hub_id" in entry and "source" not in entry:
        raise RegistryError(f"{where}: missing field(s) source")
    for key, test, expected in _RULES:
        if key in entry and not test(entry[key], entry):
            raise RegistryError(f"{where}: field '{key}' must be {expected(entry)}, not {entry[key]!r}")
    values = dict(entry)
    values.setdefault("hub_id", None)
    source = values.get("source", [])
    values["source"] = (source,) if isinstance(source, str) else tuple(source)
    if values.get("parameters") is not None:
        values["parameters"] = str(values["parameters"])
    return ModelSpec(**values)


def load_registry(path: str | Path | None = None) -> dict[str, ModelSpec]:
    """Read and validate models.yaml.

    Args:
        path: a models.yaml to read instead of the packaged one.

    Returns:
        name -> ModelSpec, in file order.

    Raises:
        RegistryError: naming the file, the entry and the field at fault.
    """
    path = Path(path) if path is not None else registry_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise RegistryError(f"{path}: expected a top-level 'models:' list")
    specs: dict[str, ModelSpec] = {}
    hub_ids: dict[str, str] = {}
    for i, entry in enumerate(data["models"]):
        label = entry.get("name", "?") if isinstance(entry, dict) else "?"
        spec = _check_entry(entry, f"{path}: models[{i}] ({label})")
        if spec.name in specs:
            raise RegistryError(f"{path}: models[{i}]: name '{spec.name}' is used twice")
        if spec.hub_id is not None:
            if spec.hub_id.lower() in hub_ids:
                raise RegistryError(
                    f"{path}: models[{i}]: hub_id '{spec.hub_id}' is already registered as "
                    f"'{hub_ids[spec.hub_id.lower()]}'"
                )
            hub_ids[spec.hub_id.lower()] = spec.name
        specs[spec.name] = spec
    return specs


def get_spec(name: str, registry: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """Look a model up by registry name or by hub id (case-insensitive).

    Raises:
        RegistryError: the name is unknown; the message suggests close names and ``dnallm models``.
    """
    registry = registry if registry is not None else load_registry()
    found = find_spec(name, registry)
    if found is not None:
        return found
    close = difflib.get_close_matches(name.lower(), list(registry), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(f"unknown model name '{name}'{hint} (run `dnallm models` for the list)")


def is_explicit_path(model: str | Path) -> bool:
    """Whether ``model`` can only mean a local directory: a ``Path``, or a string starting with ``/``, ``./``,
    ``../``, ``~`` or ``.\\``, or holding a backslash (never a registry name or a hub id)."""
    name = str(model)
    return isinstance(model, Path) or name.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name


def hub_missing_error(name: str, source: str, exc: BaseException) -> ModelLoadError:
    """The error for a model ``name`` that is not a local directory and whose hub id ``source`` the Hugging Face
    hub did not provide (``exc``, the hub's error: its first line is quoted)."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ModelLoadError(
        f"cannot load '{name}': it is not a local directory and the Hugging Face hub did not provide "
        f"'{source}' ({reason}); check the name and your network, or pass a local directory"
    )


def resolve_model(model: str | Path, registry: dict[str, ModelSpec] | None = None) -> tuple[str, ModelSpec | None]:
    """Where ``model`` is loaded from: ``(local directory or hub id, its registry entry or None)``.

    A registry name always means its entry's declared source (hub id or packaged directory), even when a folder
    of the same name exists in the working directory: pass ``./name`` to load that folder. A ``Path``, a string
    starting with ``/``, ``./``, ``../`` or ``~``, and an existing directory otherwise are local directories;
    anything else is a hub id (registered or not).
    """
    name = str(model)
    explicit = is_explicit_path(model)
    if not explicit:
        registry = registry if registry is not None else load_registry()
        key = name.strip().lower()
        if key in registry:
            spec = registry[key]
            if Path(name).is_dir():
                logger.warning(
                    "'%s' is a models.yaml name and also a folder here; the name wins and loads %s "
                    "(pass ./%s to load the folder)", name, spec.location, name,
                )
            return spec.location, spec
    path = Path(name).expanduser()
    if explicit or path.is_dir():
        return str(path), None
    spec = find_spec(name, registry)
    if spec is None and "/" not in name:
        get_spec(name, registry)  # a bare name that is not registered: raises with close names
    return (spec.location, spec) if spec is not None else (name, None)


def find_spec(name: str, registry: dict[str, ModelSpec] | None = None) -> ModelSpec | None:
    """The spec registered under ``name`` (a registry name or a hub id), or None."""
    registry = registry if registry is not None else load_registry()
    key = name.strip().lower()
    if key in registry:
        return registry[key]
    for spec in registry.values():
        if spec.hub_id is not None and spec.hub_id.lower() == key:
            return spec
    return None
