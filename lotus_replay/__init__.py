"""The replay server: recordings served over a websocket in the venue's wire format.

Imports lotus_core only (and websockets)."""
