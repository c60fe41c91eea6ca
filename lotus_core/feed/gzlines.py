"""Read a gzip recording that may end early (a crash, a partial copy) or hold many members.

`gzip.open` raises `EOFError` at a stream that stops before its end-of-stream marker and
loses the whole day. The live recorder writes one gzip member per flush and can be killed
at any byte, so the reader here decompresses member after member with `zlib` and, when
the input stops inside a member, hands out everything up to the last complete line and
reports the rest as a `Truncation` (which the parser turns into one `truncated_recording`
dead letter). A file that is not gzip at all is a `RecordingFormatError` naming the file.
The nightly `raw_feed` refuses a truncated or empty day outright (lotus_core.feed.recordings):
written, it would replace a complete partition with part of the day.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
_READ = 1 << 20


class RecordingFormatError(ValueError):
    """The recording is not a gzip stream (or is corrupt, not merely cut short)."""


@dataclass(frozen=True)
class Truncation:
    """Where a recording's gzip stream stopped early, and what was left unread.

    compressed_offset: bytes of the file (its size: the input ran out there).
    member_offset: file offset of the gzip member that was cut short.
    line_offset: decompressed offset just after the last complete line.
    dropped: decompressed bytes after that line (a partial line), `tail` its start.
    """

    compressed_offset: int
    member_offset: int
    line_offset: int
    dropped: int
    tail: bytes

    def detail(self, path: Path) -> str:
        return (f"gzip stream of {Path(path).name} ends early at byte {self.compressed_offset} "
                f"(inside the member starting at byte {self.member_offset}); read up to "
                f"decompressed byte {self.line_offset}, the last complete line; "
                f"{self.dropped} decompressed bytes of a partial line dropped")


class RecordingRaw(io.RawIOBase):
    """Decompressed bytes of every gzip member, cut at the last complete line if the
    stream ends early. Wrap in `io.BufferedReader` to iterate lines."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._f = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        head = self._f.read(2)
        if head != GZIP_MAGIC:
            self._f.close()
            what = "is empty" if not head else f"starts with {head!r}"
            raise RecordingFormatError(
                f"{self.path} is not a gzip recording ({what}; expected the gzip magic "
                f"1f 8b): a feed file must be <YYYY-MM-DD>.jsonl.gz")
        self._f.seek(0)
        self._d = zlib.decompressobj(wbits=31)
        self._member_start = 0
        self._in_pos = 0          # compressed bytes consumed from the file
        self._out_pos = 0         # decompressed bytes handed out
        self._pending = b""       # decompressed, not yet handed out
        self._held = b""          # after the last newline: released when more data comes
        self.lines = 0            # complete lines decompressed so far (for where it broke)
        self._done = False
        self.truncation: Truncation | None = None

    def readable(self) -> bool:
        return True

    # ignore: RawIOBase types `b` as any writable buffer; the io stack passes these two.
    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            self._fill()
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._out_pos += n
        return n

    def _fill(self) -> None:
        data = self._d.unconsumed_tail or self._f.read(_READ)
        if not data:
            self._finish()
            return
        if not self._d.unconsumed_tail:
            self._in_pos += len(data)
        try:
            out = self._d.decompress(data, _READ)
        except zlib.error as exc:
            raise RecordingFormatError(
                f"{self.path} is corrupt after line {self.lines:,} (in the gzip member "
                f"starting at byte {self._member_start}): {exc}") from None
        while self._d.eof:
            rest = self._d.unused_data
            self._member_start = self._in_pos - len(rest)
            self._d = zlib.decompressobj(wbits=31)
            if not rest:
                break
            if not rest.startswith(GZIP_MAGIC[: len(rest)]):
                # bytes after a complete member that are not a member: a torn write's
                # residue or junk; nothing after them can be trusted
                self._stop(extra=b"")
                return
            try:
                out += self._d.decompress(rest, _READ)
            except zlib.error:
                self._stop(extra=b"")
                return
        self._release(out)

    def _release(self, out: bytes) -> None:
        data = self._held + out
        cut = data.rfind(b"\n") + 1
        self.lines += data.count(b"\n", 0, cut)
        self._pending += data[:cut]
        self._held = data[cut:]

    def _finish(self) -> None:
        """End of the file: clean if no member is open; else a truncation."""
        self._done = True
        started = self._in_pos > self._member_start
        if not started:
            self._pending += self._held  # a last line without its newline is still whole
            self._held = b""
            return
        self._stop(extra=b"")

    def _stop(self, extra: bytes) -> None:
        self._done = True
        tail = self._held + extra
        self.truncation = Truncation(
            compressed_offset=self._in_pos, member_offset=self._member_start,
            line_offset=self._out_pos + len(self._pending), dropped=len(tail), tail=tail[:2000])
        self._held = b""

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


def open_lines(path: Path) -> tuple[io.BufferedReader, RecordingRaw]:
    """A buffered line reader over a recording, and its raw layer (for `truncation`)."""
    raw = RecordingRaw(path)
    return io.BufferedReader(raw, buffer_size=_READ), raw


def first_line(path: Path) -> tuple[bytes, Truncation | None]:
    """The recording's first line (b"" when it has none) and, when it has none, where its
    stream stopped early (None: a complete gzip stream holding no lines). Cheap: it reads
    one buffer, so a step can refuse an empty day before parsing it."""
    reader, raw = open_lines(path)
    with reader:
        line = reader.readline()
    return line, (None if line else raw.truncation)
