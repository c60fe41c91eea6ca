"""Accepting a chart file: type and size checked, bytes hashed, stored by content.

    stored = store_image(home, data)    # -> StoredImage(chart_hash, path, existed)

Only PNG and JPEG are taken, recognised by their magic bytes (not the file name), at most
MAX_BYTES and at most MAX_PIXELS, and only when Pillow decodes the whole file (a truncated
or corrupt image is refused). The file lands at <home>/vis/charts/<aa>/<sha256>.<ext>
through a temporary file and a rename, so a failure leaves nothing behind and the same
bytes are stored once.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}


class ChartRefused(ValueError):
    """A file (or its coin, time or note) that is not taken, with the reason in its message
    and a short `code` naming the rule (`empty_file`, `too_large`, `not_png_or_jpeg`,
    `too_many_pixels`, `corrupt_image`, `bad_coin`, `bad_at`, `bad_note`)."""

    def __init__(self, reason: str, code: str = "refused") -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class StoredImage:
    """Where a chart's bytes are kept and their sha256 (`sha256:<hex>`)."""

    chart_hash: str
    path: Path
    existed: bool


def image_type(data: bytes) -> str | None:
    """'png' or 'jpg' from the magic bytes, else None."""
    for magic, ext in MAGIC.items():
        if data.startswith(magic):
            return ext
    return None


def check_image(data: bytes, *, max_bytes: int = MAX_BYTES) -> tuple[str, Image.Image]:
    """(extension, decoded image) of acceptable chart bytes; ChartRefused otherwise."""
    if len(data) == 0:
        raise ChartRefused("empty file", "empty_file")
    if len(data) > max_bytes:
        raise ChartRefused(f"file is {len(data)} bytes, over the {max_bytes}-byte cap",
                           "too_large")
    ext = image_type(data)
    if ext is None:
        raise ChartRefused("not a PNG or JPEG (magic bytes do not match either)",
                           "not_png_or_jpeg")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise ChartRefused(f"image is {img.width}x{img.height}, over {MAX_PIXELS} "
                                   "pixels", "too_many_pixels")
            img.load()
    except ChartRefused:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise ChartRefused(f"corrupt or truncated {ext.upper()}: {exc}",
                           "corrupt_image") from exc
    return ext, img


def chart_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chart_path(home: Path, digest: str, ext: str) -> Path:
    hexd = digest.split(":", 1)[1]
    return Path(home) / "vis" / "charts" / hexd[:2] / f"{hexd}.{ext}"


def stored_bytes(home: Path, digest: str) -> bytes | None:
    """The stored image of `digest` (PNG or JPEG), None when neither file is there."""
    for ext in MAGIC.values():
        path = chart_path(home, digest, ext)
        if path.is_file():
            return path.read_bytes()
    return None


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, then rename (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_image(home: Path, data: bytes, ext: str) -> StoredImage:
    """Keep checked bytes content-addressed under <home>/vis/charts/."""
    digest = chart_hash(data)
    path = chart_path(home, digest, ext)
    if path.exists():
        return StoredImage(chart_hash=digest, path=path, existed=True)
    atomic_write(path, data)
    return StoredImage(chart_hash=digest, path=path, existed=False)
