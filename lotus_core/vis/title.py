"""Symbol and timeframe from the chart's title text.

The timeframe is the first token like 1m, 5m, 15m, 1h, 4H, 1D, 1W (also 5min; a lone i, I,
l or | before the unit is read as 1, the digit tesseract most often mistakes for them); the
symbol is the first token of 2-10 capitals and digits, optionally a pair (BTC-USD,
BTC/USDT, BTCUSDT), reduced to its base coin (quote suffixes USD, USDT, USDC, PERP
dropped). Each comes with the OCR confidence of the word it was read from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lotus_core.vis.ocr import Word

TIMEFRAME = re.compile(r"^(\d{1,3})\s*(s|m|min|h|H|d|D|w|W)$")
SYMBOL = re.compile(r"^([A-Z][A-Z0-9]{1,9})(?:[-/]?(USDT|USDC|USD|PERP))?$")
ONE = re.compile(r"^[iIl|](?=(s|m|min|h|H|d|D|w|W)$)")
UNIT = {"s": "s", "m": "m", "min": "m", "h": "h", "H": "h", "d": "d", "D": "d", "w": "w",
        "W": "w"}


@dataclass(frozen=True)
class TitleRead:
    """What the title says: symbol and timeframe (None when not read) and confidences."""

    symbol: str | None
    symbol_conf: float
    timeframe: str | None
    timeframe_conf: float


def read_title(words: list[Word]) -> TitleRead:
    """The first symbol-like and timeframe-like words, in reading order."""
    sym, sym_c, tf, tf_c = None, 0.0, None, 0.0
    for w in words:
        token = ONE.sub("1", w.text.strip(" .,:;()[]"))
        m = TIMEFRAME.match(token)
        if m and tf is None:
            tf, tf_c = f"{int(m.group(1))}{UNIT[m.group(2)]}", w.conf
            continue
        s = SYMBOL.match(token)
        if s and sym is None and not token.isdigit():
            base = s.group(1)
            for quote in ("USDT", "USDC", "USD", "PERP"):
                if base.endswith(quote) and len(base) > len(quote) + 1:
                    base = base[: -len(quote)]
                    break
            sym, sym_c = base, w.conf
    return TitleRead(symbol=sym, symbol_conf=sym_c, timeframe=tf, timeframe_conf=tf_c)
