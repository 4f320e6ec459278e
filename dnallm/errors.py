"""Exceptions that dnallm raises for problems a user can fix.

Every message says what went wrong, where (file and line, record id, registry entry) and what to do.
The CLI prints such a message on one line and exits with code 2; anything else is a bug in dnallm.
"""

from __future__ import annotations


class DnallmError(Exception):
    """Base class of the errors a user can act on."""


class InputError(DnallmError, ValueError):
    """The sequences given to dnallm cannot be used as they are.

    Attributes:
        reason: the message without its place (file and line, item, record): what a list of skipped records
            shows next to the place, which it lists in a column of its own.
    """

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        self.reason = message if reason is None else reason

    @classmethod
    def at(cls, where: str, reason: str) -> InputError:
        """``"{where}: {reason}"``, with ``reason`` kept apart."""
        return cls(f"{where}: {reason}", reason=reason)


class FastaFormatError(InputError):
    """A FASTA file breaks the format or the alphabet policy.

    Attributes:
        path: the file.
        line: 1-based line number in the (decompressed) file, or None.
        record_id: the record being read, or None before the first header.
    """

    def __init__(self, path: str, line: int | None, record_id: str | None, problem: str, hint: str = ""):
        self.path = path
        self.line = line
        self.record_id = record_id
        self.problem = problem
        self.hint = hint
        where = path if line is None else f"{path}:{line}"
        if record_id is not None:
            where += f" (record '{record_id}')"
        reason = f"{problem}; {hint}" if hint else problem
        super().__init__(f"{where}: {reason}", reason=reason)


class OptionError(DnallmError, ValueError):
    """An argument has a value dnallm does not take (``on_error="ignore"``, ``pooling="sum"``); the message
    lists the values it takes."""


class RegistryError(DnallmError, ValueError):
    """models.yaml is malformed, or a name is not in it."""


class TokenizerError(DnallmError, ValueError):
    """A tokenizer cannot be used for DNA, or does not behave as its family says."""


class ModelLoadError(DnallmError, OSError):
    """A model or its tokenizer cannot be found or read."""
