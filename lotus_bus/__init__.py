"""The Signal Bus server (`lotus bus serve`) and a reference subscriber; docs/bus.md.

The rules (frames, order, auth, resume) are in `lotus_core.bus`; this package only serves
them over websockets and hands Dagster a handle on the process.
"""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
