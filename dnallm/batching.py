"""Token-budget batches: length-sorted, dynamically padded, and a background thread that tokenizes ahead.

A batch's cost is ``n_sequences * longest`` tokens once padded; :func:`plan_batches` sorts inputs by length and
fills each batch up to ``max_batch_tokens`` of that cost, so short inputs travel many to a batch and long ones
few, with little padding. Results come back in sorted order and are put back in input order by the caller
(the batch holds the input positions).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch

from dnallm.tokenization import Encoding

T = TypeVar("T")


def plan_batches(
    lengths: Sequence[int] | np.ndarray,
    max_batch_tokens: int,
    group: Sequence[int] | np.ndarray | None = None,
) -> list[np.ndarray]:
    """Split input positions into batches whose padded size stays within the budget.

    Args:
        lengths: tokens of each input.
        max_batch_tokens: largest ``n_sequences * longest`` per batch; an input longer than the budget runs alone.
        group: optional key per input; a batch never mixes keys (BigBird block-sparse inputs are grouped by
            their number of attention blocks, so padding never changes their block layout).

    Returns:
        Arrays of input positions, one per batch, shortest inputs first.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    keys = np.zeros(len(lengths), dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
    order = np.lexsort((lengths, keys))
    batches: list[np.ndarray] = []
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order):
            batches.append(order[start:i])
            break
        longest = lengths[order[i]]  # sorted: the newcomer is the longest so far
        if keys[order[i]] != keys[order[start]] or (i - start + 1) * longest > max_batch_tokens:
            batches.append(order[start:i])
            start = i
    return batches


def pad_batch(encodings: Sequence[Encoding], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the batch's longest input.

    Returns:
        ``input_ids`` and ``attention_mask`` ``(batch, longest)`` int64, and ``content_mask`` ``(batch, longest)``
        bool: True for sequence tokens, False for special tokens and padding; where encodings carry
        ``queries``, those too, ``(batch, most queries, 3)`` int64, padded with rows of -1.
    """
    longest = max(len(e) for e in encodings)
    ids = np.full((len(encodings), longest), pad_id, dtype=np.int64)
    attention = np.zeros((len(encodings), longest), dtype=np.int64)
    content = np.zeros((len(encodings), longest), dtype=bool)
    for row, enc in enumerate(encodings):
        n = len(enc)
        ids[row, :n] = enc.input_ids
        attention[row, :n] = 1
        content[row, :n] = ~enc.special_mask
    batch = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(attention),
        "content_mask": torch.from_numpy(content),
    }
    if any(enc.queries is not None for enc in encodings):
        most = max(0 if enc.queries is None else len(enc.queries) for enc in encodings)
        queries = np.full((len(encodings), max(most, 1), 3), -1, dtype=np.int64)
        for row, enc in enumerate(encodings):
            if enc.queries is not None:
                queries[row, : len(enc.queries)] = enc.queries
        batch["queries"] = torch.from_numpy(queries)
    return batch


_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead of the consumer.

    Used to tokenize the next chunk of records while the model runs on the current one (tokenizers and most
    torch operations release the GIL). An exception in the producer is raised in the consumer; closing the
    consumer stops the producer.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            buffer.put((_DONE, exc))

    thread = threading.Thread(target=produce, name="dnallm-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)
