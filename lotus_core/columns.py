"""The one home of the lake schemas' column helpers: pandas' text dtype and a pandera column
that checks it exactly (pandera alone also accepts object and other string kinds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

STR = pd.StringDtype(na_value=np.nan)  # pandas' default "str" dtype


def is_str(s: pd.Series) -> bool:
    """Exactly pandas' "str" dtype."""
    return bool(s.dtype == STR)


def is_text(s: pd.Series) -> bool:
    """Text as tables built row by row hold it: "str", object, or empty (a day with no rows
    has no strings to type its columns)."""
    return bool(s.dtype == STR or s.dtype == object or len(s) == 0)


def column(dtype: Any, *checks: pa.Check, nullable: bool = False, coerce: bool = False,
           text: bool = False) -> pa.Column:
    """A pandera column; a STR column is checked by `is_str` (or `is_text` with `text`,
    and then without a declared dtype, so object columns pass)."""
    if dtype is STR:
        check = pa.Check(is_text if text else is_str, element_wise=False, name="dtype_is_str")
        if text:
            return pa.Column(checks=[check, *checks], nullable=nullable)
        checks = (check, *checks)
    return pa.Column(dtype, checks=list(checks), nullable=nullable, coerce=coerce)
