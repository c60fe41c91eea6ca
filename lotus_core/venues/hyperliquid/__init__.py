"""Hyperliquid: its perp universe (`universe`: the shipped snapshot of the info endpoint's
`meta`), its instruments (`instruments`: szDecimals, lots and the price rule's ticks) and its
websocket endpoints (`endpoints`). The wire format's parser is lotus_core/feed/wire.py."""
