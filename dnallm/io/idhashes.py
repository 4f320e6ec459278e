"""The duplicate-id check of a FASTA file, in constant memory per id and constant time per repeat."""

from __future__ import annotations

import zlib
from array import array


class IdHashes:
    """The ids read so far, as hashes, for the duplicate-id check of a file, with the line each was first seen on.

    An open-addressing table at most half full; a slot holds the id's 64-bit ``hash``, an independent 32-bit
    CRC of its UTF-8 bytes and its header line: 20 bytes a slot, 40 to 80 bytes a record, about what a Python set
    of the hashes alone takes. An id repeats when both its hash and its CRC match (two different ids share both
    with a chance of about n^2 / 2^97: 1e-11 for a billion ids), so a repeated id is named with its first line
    in constant time, without reading the file again.
    """

    def __init__(self, size: int = 1024) -> None:
        self._slots = array("Q", bytes(8 * size))  # 0 marks an empty slot
        self._checks = array("I", bytes(4 * size))
        self._lines = array("Q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add_id(self, rid: str, line: int) -> int | None:
        """Add id ``rid`` first seen on ``line``; if it was there already, the line it was first seen on."""
        key = (hash(rid) & 0xFFFFFFFFFFFFFFFF) or 1
        check = zlib.crc32(rid.encode("utf-8", "surrogatepass"))
        return self._add(key, check, line)

    def add(self, key: int) -> bool:
        """Add the bare 64-bit hash ``key`` (no CRC, no line); True when it was there already."""
        return self._add((key & 0xFFFFFFFFFFFFFFFF) or 1, 0, 0) is not None

    def _add(self, key: int, check: int, line: int) -> int | None:
        slots, checks, mask = self._slots, self._checks, self._mask
        i = key & mask
        while (here := slots[i]) != 0:
            if here == key and checks[i] == check:
                return self._lines[i]
            i = (i + 1) & mask
        slots[i], checks[i], self._lines[i] = key, check, line
        self._count += 1
        if 2 * self._count > mask:
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._slots, self._checks, self._lines)
        size = 2 * len(self._slots)
        self._slots, self._checks = array("Q", bytes(8 * size)), array("I", bytes(4 * size))
        self._lines, self._mask, self._count = array("Q", bytes(8 * size)), size - 1, 0
        for key, check, line in list(old):
            if key:
                self._add(key, check, line)
