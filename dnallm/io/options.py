"""The input policy: how dnallm reads bases it cannot run as they are, and what it does with a bad record.

One :class:`InputOptions` carries the four settings that every reader and every command takes (``iupac``,
``uracil``, ``on_error``, ``on_skip``). It is checked once, when it is made, and passed whole from the public call
down to the reader; nothing below re-checks or re-threads the four values.

``on_skip`` and threads: :class:`dnallm.DNAInference` reads and tokenizes input on a background thread while the
model runs, but it calls ``on_skip`` on the caller's thread (the one iterating the results), with each skipped
record before the results of the records that follow it. :func:`dnallm.iter_records` and
:func:`dnallm.read_fasta` call it on the thread that iterates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dnallm.errors import OptionError

IupacPolicy = Literal["n", "error"]
UracilPolicy = Literal["t", "error"]
ErrorPolicy = Literal["fail", "skip"]

#: the values each setting takes, first the default (the CLI's choices come from here)
IUPAC_POLICIES: tuple[str, ...] = ("n", "error")
URACIL_POLICIES: tuple[str, ...] = ("t", "error")
ERROR_POLICIES: tuple[str, ...] = ("fail", "skip")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out under ``on_error="skip"``.

    Attributes:
        id: the record's id ("" when the header had none).
        where: ``"file.fa:12"`` (the offending line) or ``"item 3"``.
        reason: what is wrong with it: the message the record would have stopped the run with, without the
            place (which is ``where``).
        count: the inputs this entry stands for (a run of genome tiles left out for one reason is one entry).
    """

    id: str
    where: str
    reason: str
    count: int = 1


SkipCallback = Callable[[Skipped], None]


@dataclass(frozen=True, slots=True)
class InputOptions:
    """The input policy, checked when made (an :class:`~dnallm.errors.OptionError` names the bad value).

    Attributes:
        iupac: ``"n"``: IUPAC ambiguity codes become ``N`` (counted in a warning); ``"error"``: refused.
        uracil: ``"t"``: ``U`` is read as ``T`` (counted in a warning); ``"error"``: refused.
        on_error: ``"fail"``: the first bad record stops the run; ``"skip"``: it is left out, reported and the
            run goes on.
        on_skip: called with a :class:`Skipped` for each record left out (see the module's docstring for the
            thread that calls it).
    """

    iupac: IupacPolicy = "n"
    uracil: UracilPolicy = "t"
    on_error: ErrorPolicy = "fail"
    on_skip: SkipCallback | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("iupac", IUPAC_POLICIES), ("uracil", URACIL_POLICIES), ("on_error", ERROR_POLICIES)):
            value = getattr(self, name)
            if value not in allowed:
                raise OptionError(f"{name} must be {' or '.join(repr(a) for a in allowed)}, not {value!r}")
        if self.on_skip is not None and not callable(self.on_skip):
            raise OptionError(f"on_skip must be a function of one Skipped record, not {self.on_skip!r}")

    @property
    def skipping(self) -> bool:
        """Whether bad records are left out (``on_error="skip"``) rather than stopping the run."""
        return self.on_error == "skip"

    def report(self, skipped: Skipped) -> None:
        """Hand one skipped record to ``on_skip`` (if any)."""
        if self.on_skip is not None:
            self.on_skip(skipped)
