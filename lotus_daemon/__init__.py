"""The Lotus daemon: the one long-running streaming process (DESIGN.md, "Live").

It hosts loops, each a small module under `lotus_daemon/loops/`: today the Herald router
and the daemon's own heartbeat; later the websocket client, the live MicroTape, scoring,
the Decision-Maker and the paper trader. Streaming work lives here, outside Dagster runs;
Dagster holds a handle on it (lotus_resources/daemon.py). Imports lotus_core only.

    lotus daemon start | stop | status        (lotus_cli/daemon.py)
    python -m lotus_daemon --home DIR         (what `start` runs, detached)
"""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
