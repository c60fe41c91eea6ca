"""The feed client's websocket connection: websockets' `ClientConnection`, with whole
messages collected in an inbox for the feed loop to drain in bulk.

Two costs of the library's receive path are avoided, both measured at replay speed:
- a future, a queue and a coroutine switch per message (an eighth of the feed loop's CPU):
  each message is appended to `inbox` and the session drains it once per socket read;
- the generator-based frame parser (`Frame.parse`: about a quarter of the feed loop's
  CPU, a few µs per frame): a complete, unfragmented, unmasked TEXT or BINARY frame with
  no reserved bits, on an OPEN connection with no extension, is cut out of the bytes
  here. Every other frame (ping, pong, close, fragments, anything malformed or too big)
  is handed whole to the library, which answers, closes and fails exactly as it always
  does. The library gets the handshake response up to its blank line and after that only
  whole frames, so its parser always rests at a frame boundary; the fast path runs only
  while it does (`_library_idle`: otherwise everything goes to the library, as before).
  tests/daemon/test_feed_connection.py checks it against the library on random chunking.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import BINARY, CONT, PONG, TEXT
from websockets.protocol import CONNECTING, OPEN

_FIN_TEXT = 0x81    # FIN, no RSV bits, opcode 1
_FIN_BINARY = 0x82  # FIN, no RSV bits, opcode 2
_FAST_FIRST_BYTES = frozenset((_FIN_TEXT, _FIN_BINARY))


def _parser_at_boundary(parser: Any) -> bool:
    """Whether the protocol's parser generator waits at the start of a frame (in
    `StreamReader.at_eof`), not inside one."""
    inner = parser
    while getattr(inner, "gi_yieldfrom", None) is not None:
        inner = inner.gi_yieldfrom
    return getattr(getattr(inner, "gi_code", None), "co_name", None) == "at_eof"


class FeedConnection(ClientConnection):
    """See the module docstring. `inbox` holds at most one socket read: the session drains
    it before the event loop reads again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox: list[bytes] = []
        self.arrived = asyncio.Event()
        self.fast_frames = 0  # frames cut out here (the rest went through the library)
        self._parts: list[bytes] = []
        self._rx = bytearray()  # bytes of a frame not yet complete (fast path only)
        self._head_tail = b""  # the handshake response's last bytes, while it arrives

    # -- the library's path ----------------------------------------------------------------
    def process_event(self, event: Any) -> None:
        if self.response is None:  # the handshake response
            super().process_event(event)
            return
        op = event.opcode
        if op is TEXT or op is BINARY or op is CONT:
            self._parts.append(bytes(event.data))
            if event.fin:  # a message: its frames joined (text or not, decoded leniently)
                data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                self._parts = []
                self.inbox.append(data)  # decoded by `FeedLoop._on_frame`
                self.arrived.set()
        elif op is PONG:
            self.acknowledge_pings(bytes(event.data))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.arrived.set()

    # -- the fast path ---------------------------------------------------------------------
    def _library_idle(self) -> bool:
        p = self.protocol
        return (p.state is OPEN and not p.extensions and not p.reader.buffer
                and not p.reader.eof and _parser_at_boundary(p.parser))

    def _handshake(self, data: bytes) -> bytes:
        """Give the library the HTTP response, up to its blank line (a 101 has no body), and
        return what follows it: the first frames, for the fast path."""
        probe = self._head_tail + data
        i = probe.find(b"\r\n\r\n")
        if i < 0:
            self._head_tail = probe[-3:]
            super().data_received(data)
            return b""
        cut = i + 4 - len(self._head_tail)
        self._head_tail = b""
        super().data_received(data[:cut])
        return data[cut:]

    def data_received(self, data: bytes) -> None:
        if self.protocol.state is CONNECTING:
            data = self._handshake(data)
            if not data:
                return
        if not self._rx and not self._library_idle():
            super().data_received(data)
            return
        buf = self._rx
        buf += data
        n, pos = len(buf), 0
        inbox = self.inbox
        inbox_before = len(inbox)
        library = 0  # messages the library appended to the inbox (not cut out here)
        append = inbox.append
        protocol = self.protocol
        limit = protocol.max_message_size
        handover = False  # the library takes the rest: the connection is failing or closing
        with memoryview(buf) as view:  # a frame's bytes copied once (released before `del`)
            while n - pos >= 2:
                b1, b2 = buf[pos], buf[pos + 1]
                length, head = b2 & 0x7F, 2
                if length == 126:
                    if n - pos < 4:
                        break
                    length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
                elif length == 127:
                    if n - pos < 10:
                        break
                    length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
                if b2 & 0x80 or (limit is not None and length > limit):
                    handover = True  # masked by a server, or too big: the library fails it
                    break
                end = pos + head + length
                if end > n:
                    break  # the rest of this frame is still on its way
                if b1 in _FAST_FIRST_BYTES and protocol.current_size is None:
                    append(bytes(view[pos + head:end]))
                else:  # a control frame, a fragment, reserved bits: the library's, whole
                    held = len(inbox)
                    super().data_received(bytes(view[pos:end]))
                    library += len(inbox) - held
                    if protocol.state is not OPEN:
                        pos, handover = end, True
                        break
                pos = end
        self.fast_frames += len(inbox) - inbox_before - library
        if handover:
            rest = bytes(buf[pos:])
            self._rx = bytearray()
            if rest:
                super().data_received(rest)
        else:
            del buf[:pos]
        if len(self.inbox) > inbox_before:
            self.arrived.set()

    def eof_received(self) -> bool | None:
        if self._rx:  # a frame cut short: the library reports it as it would
            rest, self._rx = bytes(self._rx), bytearray()
            super().data_received(rest)
        return super().eof_received()
