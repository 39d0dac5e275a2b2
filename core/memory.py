"""Caches bounded in bytes: :func:`nbytes` measures what an object holds, :class:`ByteLRU` keeps the most
recently used values within a byte budget (the app's shared analyses and feature tables)."""

from __future__ import annotations

import dataclasses
import sys
import threading
import types
from collections.abc import Hashable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from cachetools import LRUCache

V = TypeVar("V")


def nbytes(obj: object) -> int:
    """Bytes held by ``obj`` and everything it refers to (arrays, frames, dataclass and instance fields,
    containers, a function's closure), each object counted once; modules and classes are not counted."""
    seen: set[int] = set()
    total, todo = 0, [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, (type, types.ModuleType)):
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            total += item.nbytes
        elif isinstance(item, (pd.DataFrame, pd.Series)):
            total += int(np.sum(item.memory_usage(deep=True)))
        elif isinstance(item, pd.Index):
            total += item.memory_usage(deep=True)
        else:
            total += sys.getsizeof(item)
            todo.extend(_parts(item))
    return total


def _contents(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return None


def _parts(item: object) -> list[Any]:
    """What ``item`` refers to that :func:`nbytes` should count too."""
    if isinstance(item, (str, bytes, bytearray, int, float, complex, bool)) or item is None:
        return []
    if isinstance(item, Mapping):
        return [*item.keys(), *item.values()]
    if isinstance(item, (list, tuple, set, frozenset)):
        return list(item)
    if isinstance(item, types.FunctionType):
        return [_contents(cell) for cell in item.__closure__ or ()]
    if isinstance(item, types.MethodType):
        return [item.__self__]
    parts = list(vars(item).values()) if hasattr(item, "__dict__") else []
    if dataclasses.is_dataclass(item) and not hasattr(item, "__dict__"):  # slots dataclass
        parts += [getattr(item, f.name) for f in dataclasses.fields(item)]
    return parts


class ByteLRU:
    """A thread-safe map that keeps the most recently used values within ``max_bytes`` (by :func:`nbytes`);
    a value larger than the whole budget is not kept. cachetools' :class:`~cachetools.LRUCache` does the
    keeping; this adds the lock (cachetools' caches are not thread-safe) and the byte measure."""

    def __init__(self, max_bytes: float):
        self.max_bytes = int(max_bytes)
        self._cache: LRUCache[Hashable, Any] = LRUCache(self.max_bytes, getsizeof=nbytes)
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes held now."""
        return int(self._cache.currsize)

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, key: Hashable) -> Any | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            return self._cache.get(key)

    def put(self, key: Hashable, value: V) -> V:
        """Keep ``value`` for ``key``, forgetting the least recently used values beyond the budget; returns it."""
        with self._lock:
            self._cache.pop(key, None)
            if nbytes(value) <= self.max_bytes:
                self._cache[key] = value
        return value
