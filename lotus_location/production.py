"""The code location built from the settings at call time (one day of the nightly chain run
out of process on the profile's executor is `lotus_sensors.daily_run`).

`load_definitions` is what Dagster's workers reconstruct the job from (a module-level
function: every worker builds the same Definitions from the same environment), so the steps
of a run can execute in processes, or on machines, that never saw the run's own process.
"""


import dagster as dg

from lotus_core.config import load_settings
from lotus_location.definitions import build_definitions


def load_definitions() -> dg.Definitions:
    """The code location from the current environment (LOTUS_PROFILE, LOTUS_CONFIG, ...)."""
    return build_definitions(load_settings())
