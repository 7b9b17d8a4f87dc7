"""The scale-out recipe of docs/python.md, as the test runs it: many store files (shards)
scanned in parallel by Dask workers, each opening its shard read-only and reducing numpy
views of the values in place, so no value is ever copied into a Python object."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def scan_shard(path: str) -> tuple[int, int, float, float]:
    """(entries, elements, sum, max) over the float32 values of one shard."""
    from simd_r_drive import DataStore

    entries = elements = 0
    total = 0.0
    largest = -np.inf
    with DataStore(path, read_only=True) as store:
        for handle in store:  # EntryHandles: the values stay in the mapping
            values = handle.as_numpy(np.float32)  # a view, not a copy
            entries += 1
            elements += values.size
            total += float(values.sum(dtype=np.float64))
            largest = max(largest, float(values.max()))
    return entries, elements, total, largest


def combine(parts: Iterable[tuple[int, int, float, float]]) -> tuple[int, int, float, float]:
    entries = elements = 0
    total = 0.0
    largest = -np.inf
    for part_entries, part_elements, part_total, part_largest in parts:
        entries += part_entries
        elements += part_elements
        total += part_total
        largest = max(largest, part_largest)
    return entries, elements, total, largest


def scan_shards(paths: list[str], scheduler_address: str) -> tuple[int, int, float, float]:
    import dask.bag as db
    from dask.distributed import Client

    with Client(scheduler_address, timeout="60s") as client:
        bag = db.from_sequence(paths, npartitions=len(paths)).map(scan_shard)
        return combine(client.compute(bag, sync=True))
