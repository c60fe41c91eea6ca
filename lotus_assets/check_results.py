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


def check_result(context: dg.AssetCheckExecutionContext | None, *, passed: bool, detail: str,
                 metadata: Mapping[str, object],
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN
                 ) -> dg.AssetCheckResult:
    """The result, its description `<day> [<coin>]: passed|failed: <detail>` (unpartitioned:
    without the partition) and the partition's `day` and `coin` in its metadata."""
    text, where = f"{'passed' if passed else 'failed'}: {detail}", {}
    if context is not None and context.has_partition_key:
        day, coin = day_and_coin(context.partition_key)
        text = f"{day} {coin}: {text}" if coin else f"{day}: {text}"
        where = {"day": day, **({"coin": coin} if coin else {})}
    return dg.AssetCheckResult(passed=bool(passed), severity=severity,
                               description=text[:2000], metadata={**where, **metadata})
