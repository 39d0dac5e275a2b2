"""Caches bounded in bytes (core.memory): what a value holds is measured, and the least recently used values
go first once the budget is spent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.memory import ByteLRU, nbytes


@dataclass
class Result:
    samples: np.ndarray
    table: pd.DataFrame
    later: object = None


def test_nbytes_counts_arrays_frames_fields_containers_and_closures_once():
    samples = np.zeros(1_000_000, dtype=np.float32)  # 4 MB
    table = pd.DataFrame({"x": np.zeros(250_000)})  # 2 MB
    result = Result(samples, table)
    assert 6e6 <= nbytes(result) < 6.1e6
    result.later = lambda: samples.sum()  # a closure over the same array: not counted twice
    assert nbytes(result) < 6.1e6
    assert 8e6 <= nbytes({"a": [samples, samples.copy()]}) < 8.1e6


def test_the_least_recently_used_values_go_once_the_byte_budget_is_spent():
    cache = ByteLRU(max_bytes=10e6)
    mb4 = [np.zeros(500_000) for _ in range(3)]  # 4 MB each
    cache.put("a", mb4[0])
    cache.put("b", mb4[1])
    assert cache.get("a") is mb4[0]  # "a" is now the most recently used
    cache.put("c", mb4[2])
    assert cache.get("b") is None and cache.get("a") is mb4[0] and cache.get("c") is mb4[2]
    assert cache.bytes <= 10e6 and len(cache) == 2
    cache.put("huge", np.zeros(2_000_000))  # 16 MB: larger than the whole budget, never kept
    assert cache.get("huge") is None and len(cache) == 2
    cache.put("a", np.zeros(10))  # replacing a value frees the old one's bytes
    assert cache.bytes < 4.1e6
