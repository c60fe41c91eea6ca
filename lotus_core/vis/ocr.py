"""Text off an image region with the OS tesseract (through pytesseract).

    words = ocr_words(img.crop(box), digits=True)   # [Word(text, conf, x, y, w, h), ...]

The crop is turned into dark text on a light ground and scaled up (tesseract reads
12-14 px labels poorly at their own size); word boxes come back in the crop's own pixels.
Tesseract runs on one thread (OMP_THREAD_LIMIT=1 unless the caller set it): a chart's
two small crops gain nothing from more, and the machine is shared.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image, ImageOps

SCALE = 3
DIGITS = "0123456789.,"  # no minus: a tick mark beside a label reads as one


class OcrUnavailable(RuntimeError):
    """The tesseract binary is missing (scripts/ensure-tesseract.sh installs it)."""


@dataclass(frozen=True)
class Word:
    """One word tesseract found: its text, confidence in [0, 1] and box in crop pixels."""

    text: str
    conf: float
    x: float
    y: float
    w: float
    h: float

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def engine_version() -> str:
    """The tesseract version, or OcrUnavailable naming how to install it."""
    if shutil.which("tesseract") is None:
        raise OcrUnavailable("tesseract is not installed (run scripts/ensure-tesseract.sh)")
    return str(pytesseract.get_tesseract_version())


def prepare(crop: Image.Image, scale: int = SCALE) -> Image.Image:
    """Grey, dark-on-light, scaled by `scale`: the form tesseract reads best."""
    grey = crop.convert("L")
    if float(np.asarray(grey).mean()) < 128:
        grey = ImageOps.invert(grey)
    return grey.resize((grey.width * scale, grey.height * scale), Image.Resampling.LANCZOS)


def ocr_words(crop: Image.Image, *, digits: bool = False, line: bool = False,
              scale: int = SCALE) -> list[Word]:
    """Words in `crop`; `digits` restricts to price characters, `line` reads one text line,
    `scale` is the upscaling (a word tesseract drops at one scale it often reads at another)."""
    engine_version()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if crop.width < 2 or crop.height < 2:
        return []
    psm = 7 if line else 6
    config = f"--psm {psm}" + (f" -c tessedit_char_whitelist={DIGITS}" if digits else "")
    data = pytesseract.image_to_data(prepare(crop, scale), config=config,
                                     output_type=pytesseract.Output.DICT)
    out = []
    for i, text in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if text.strip() and conf >= 0:
            out.append(Word(text=text.strip(), conf=conf / 100.0,
                            x=data["left"][i] / scale, y=data["top"][i] / scale,
                            w=data["width"][i] / scale, h=data["height"][i] / scale))
    return out
