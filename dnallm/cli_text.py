"""The CLI's words: library messages name Python arguments (``iupac='error'``); the CLI shows its flags
(``--iupac error``) in errors, log lines and the skipped-records list."""

from __future__ import annotations

import dataclasses
import logging
import re

from dnallm.io.options import SkipCallback, Skipped


#: the CLI flag of each library argument that messages name
_FLAGS = {
    "iupac": "--iupac", "uracil": "--uracil", "on_error": "--on-error", "pooling": "--pooling", "query": "--query",
    "window_overlap": "--overlap", "both_strands": "--both-strands", "per_window": "--per-window",
    "allow_pickle": "--allow-pickle", "trust_remote_code": "--trust-remote-code",
    "max_batch_tokens": "--max-batch-tokens", "heads": "--head", "head": "--head", "layer": "--layer",
    "layers": "--layer", "window": "--window", "region": "--region", "revision": "--revision",
}
_PY_ARGUMENT = re.compile(r"\b(\w+)=('[^']*'|\"[^\"]*\"|True|False|-?\d+)(?: \(CLI: ([^)]*)\))?")


def cli_words(message: str) -> str:
    """A library message as the CLI shows it: Python arguments (``iupac='error'``) become flags
    (``--iupac error``); a message that gives both forms (``allow_pickle=True (CLI: --allow-pickle)``) keeps
    the flag alone."""

    def flag(match: re.Match) -> str:
        name, value, cli = match.groups()
        if cli:
            return cli
        if name not in _FLAGS:
            return match.group(0)
        if value == "True":
            return _FLAGS[name]
        if value == "False":
            return f"no {_FLAGS[name]}"
        return f"{_FLAGS[name]} {value.strip(chr(39) + chr(34))}"

    return _PY_ARGUMENT.sub(flag, message)


def in_cli_words(on_skip: SkipCallback) -> SkipCallback:
    """``on_skip`` hearing of skipped records with their reasons in the CLI's flag names."""

    def translated(skipped: Skipped) -> None:
        on_skip(dataclasses.replace(skipped, reason=cli_words(skipped.reason)))

    return translated


class CliFormatter(logging.Formatter):
    """Log lines with the CLI's flag names in place of Python arguments."""

    def format(self, record: logging.LogRecord) -> str:
        return cli_words(super().format(record))
