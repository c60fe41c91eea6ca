"""Every check result names the partition it judged.

Dagster's check panel lists one partition's status beside the newest execution of another
(after a re-run of one day, "Failed" in the list and "Latest execution: Passed" read as a
contradiction). So each result's description starts with its day (and coin), passed or
failed, and its metadata carries them: the panel then says which day it shows.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from lotus_resources.partition_keys import day_and_coin


def judged_here(context: dg.AssetCheckExecutionContext | None, detail: str
                ) -> tuple[str, dict[str, object]]:
    """(the description: `<day> [<coin>]: passed|failed: <detail>` without the status, the
    partition's metadata) for a check run in `context` (None or unpartitioned: as is)."""
    if context is None or not context.has_partition_key:
        return detail, {}
    day, coin = day_and_coin(context.partition_key)
    where = f"{day} {coin}" if coin else day
    meta: dict[str, object] = {"day": day, **({"coin": coin} if coin else {})}
    return f"{where}: {detail}", meta


def check_result(context: dg.AssetCheckExecutionContext | None, *, passed: bool, detail: str,
                 metadata: Mapping[str, object],
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN
                 ) -> dg.AssetCheckResult:
    """The result, its description naming the partition and whether it passed."""
    text, where = judged_here(context, f"{'passed' if passed else 'failed'}: {detail}")
    return dg.AssetCheckResult(passed=bool(passed), severity=severity,
                               description=text[:2000], metadata={**where, **metadata})
