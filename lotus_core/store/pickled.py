"""An object stored as one lake row: pickled the same way in every process, checked by its
sha256 when read back (what a daily step fits or pools once, each coin's
run of the day reads: the DSI model, the scoring context).

The lake is the project's own store, written only by its steps, so unpickling its rows is
trusted; the sha256 catches a torn or edited row, naming the asset and the day. Sets are
pickled sorted (`_Canonical`): a set's order follows the process's hash seed, so the same
object pickled by the in-process run and by a celery worker would otherwise differ.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


class _Canonical(pickle.Pickler):
    """A pickler that writes sets in sorted order. The pickler's own hooks skip sets, so a
    set goes out as a persistent id (its sorted items) and `_Loader` rebuilds it."""

    def persistent_id(self, obj: object) -> object:
        if type(obj) in (set, frozenset):
            items = list(obj)  # type: ignore[call-overload]
            try:
                items.sort()
            except TypeError:  # elements without an order between them
                items.sort(key=repr)
            return ("set" if type(obj) is set else "frozenset", tuple(items))
        return None


class _Loader(pickle.Unpickler):
    def persistent_load(self, pid: object) -> object:
        if isinstance(pid, tuple) and len(pid) == 2 and pid[0] in ("set", "frozenset"):
            return set(pid[1]) if pid[0] == "set" else frozenset(pid[1])
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


class StoredObjectError(ValueError):
    """A stored object row is missing, torn or not the object it says it is."""


def dumps(obj: object) -> bytes:
    """`obj` pickled with its sets sorted: the same bytes in any process."""
    out = io.BytesIO()
    _Canonical(out, protocol=5).dump(obj)
    return out.getvalue()


def restore(blob: bytes) -> object:
    """The object `dumps` pickled (sets rebuilt from their sorted items)."""
    return _Loader(io.BytesIO(blob)).load()


def sha256_of(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def object_row(column: str, obj: object, **fields: str | int) -> pd.DataFrame:
    """The one-row table of `obj`: `fields` (text, or int64 counts), the sha256 of the
    pickled bytes, then the bytes in `column`."""
    blob = dumps(obj)
    row = {k: (np.array([v], dtype="int64") if isinstance(v, int) else [v])
           for k, v in fields.items()}
    return pd.DataFrame({**row, "sha256": [sha256_of(blob)],
                         column: pd.Series([blob], dtype=object)})


def loads(table: pd.DataFrame, column: str, asset: str, where: str, kind: type[T]) -> T:
    """The object in `table`'s one row (`column`, checked against its `sha256`), which must
    be a `kind`; `asset` and `where` name the row in an error."""
    if len(table) != 1 or column not in table or "sha256" not in table:
        raise StoredObjectError(f"{asset} for {where}: one row expected, got {len(table)}")
    blob = table[column].iloc[0]
    if not isinstance(blob, bytes) or sha256_of(blob) != table["sha256"].iloc[0]:
        raise StoredObjectError(f"{asset} for {where}: the stored object does not match its "
                                f"sha256 (torn or edited); re-materialise {asset}")
    obj = restore(blob)  # the project's own lake (module docstring)
    if not isinstance(obj, kind):
        raise StoredObjectError(f"{asset} for {where} holds a {type(obj).__name__}, "
                                f"not a {kind.__name__}")
    return obj
