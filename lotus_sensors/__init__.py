"""Schedules and sensors: when the learning chain runs."""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
