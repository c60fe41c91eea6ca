"""The replay server: recordings served over a websocket in the venue's wire format.

Imports lotus_core only (and websockets)."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
