"""The Signal Bus, pure part: what a subscriber is sent, in which order, and who may subscribe.

    frames.signal_frame(row)       an ALPHA_PROPOSED sig_outbox row -> its sigbus frame (schema
                                   checked against sigbus-1.0.0) or a Rejected with the path
    source.FrameReader(fabric)     frames after a seq, in the fabric's durable order; a rejected
                                   row goes to dead_letter once, never to a subscriber
    auth.SubscriberBook(key_dir)   per-subscriber tokens beside the fabric keys
    protocol.parse_since / parse_hello   what a client asked for, or a Refusal naming why not

The sequence number of a frame is its row's `seq` in sig_outbox: strictly increasing, not
contiguous (other intents share the counter), durable, and the same on every server that
reads the same fabric, so a subscriber resumes with the last seq it received. The websocket
server is `lotus_bus` (`lotus bus serve`); docs/bus.md.
"""

from __future__ import annotations

from lotus_core.bus.auth import AuthError, SubscriberBook
from lotus_core.bus.frames import Frame, Rejected, signal_frame
from lotus_core.bus.protocol import Refusal, parse_hello, parse_since
from lotus_core.bus.source import FrameReader, head_seq, read_signal_rows

__all__ = [
    "AuthError", "Frame", "FrameReader", "Refusal", "Rejected", "SubscriberBook", "head_seq",
    "parse_hello", "parse_since", "read_signal_rows", "signal_frame",
]
