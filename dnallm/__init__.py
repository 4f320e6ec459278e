"""dnallm: inference with genomic DNA language models.

Public names::

    from dnallm import DNAInference                          # predictions and embeddings
    from dnallm import read_fasta, iter_records, Record      # sequence input
    from dnallm import load_registry, ModelSpec              # the models.yaml registry
    from dnallm import load_tokenizer, DNATokenizer, Encoding  # tokenizer families with bp spans
"""

from dnallm.errors import DnallmError, FastaFormatError, InputError, ModelLoadError, RegistryError, TokenizerError
from dnallm.io.fasta import Record, iter_records, read_fasta
from dnallm.registry import ModelSpec, get_spec, load_registry
from dnallm.tokenization import DNATokenizer, Encoding, detect_family, load_tokenizer

__version__ = "0.1.0"

_LAZY = {"DNAInference": "dnallm.inference", "RunStats": "dnallm.runner"}


def __getattr__(name: str):
    """Import the inference engine (torch, pandas) on first use, so `dnallm models` and readers start fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dnallm' has no attribute {name!r}")

__all__ = [
    "DNAInference",
    "DNATokenizer",
    "DnallmError",
    "Encoding",
    "FastaFormatError",
    "InputError",
    "ModelLoadError",
    "ModelSpec",
    "Record",
    "RegistryError",
    "RunStats",
    "TokenizerError",
    "detect_family",
    "get_spec",
    "iter_records",
    "load_registry",
    "load_tokenizer",
    "read_fasta",
]
