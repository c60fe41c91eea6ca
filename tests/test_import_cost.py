"""What a process pays to start: every Dagster run worker, step process, code server and
daemon imports the code location, and every `lotus` subprocess imports the CLI. Modules
that only a few functions need are imported inside those functions; these tests name them
and fail when one comes back to a module's top (checked by what a fresh interpreter holds
after the import, not by timing it).
"""

from __future__ import annotations

import json
import subprocess
import sys

# driver and validator modules the code location's import does not need
NOT_IN_THE_CODE_LOCATION = ("psycopg", "jsonschema", "referencing", "pyarrow.dataset")
# the data stack: `lotus --help` and the fabric's commands (`lotus status`) run without it
NOT_IN_THE_CLI = ("pandas", "numpy", "pyarrow", "scipy", "pandera", "dagster",
                  *NOT_IN_THE_CODE_LOCATION)


def _imported(*modules: str) -> dict:
    """Which of the names above a fresh interpreter holds after importing `modules`, the
    collector's thresholds before and after, and how many full collections it ran."""
    code = ("import gc, json, sys\nbefore = gc.get_threshold()\n"
            + "".join(f"import {m}\n" for m in modules)
            + f"print(json.dumps({{'loaded': [m for m in {NOT_IN_THE_CLI!r} if m in sys.modules],"
              " 'threshold': [before, gc.get_threshold()],"
              " 'full_collections': gc.get_stats()[2]['collections']}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_code_location_imports_no_driver_it_does_not_use() -> None:
    got = _imported("lotus_location.definitions")
    assert [m for m in got["loaded"] if m in NOT_IN_THE_CODE_LOCATION] == []
    # the cyclic collector does not walk the whole heap during the import (it did 4 times
    # at CPython's default pace), and its pace is put back afterwards
    assert got["full_collections"] == 0
    before, after = got["threshold"]
    assert after == before


def test_the_cli_and_the_fabric_commands_start_without_the_data_stack() -> None:
    got = _imported("lotus_cli.main", "lotus_core.fabric.handlers", "lotus_core.fabric.status")
    assert got["loaded"] == []
