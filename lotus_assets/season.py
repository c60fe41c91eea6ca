"""The season table in the Dagster UI: does acting on what Lotus learns pay? The asset reads
the rows `python -m bench economics --json PATH` kept (by default the sealed run committed at
`bench/results/economics_sealed.json`) and shows the season per market and arm, net P&L night
by night, the paired differences and the targets, with their 95 % intervals over seeds: the
table BENCHMARKS.md shows, from the same code (`lotus_core.report.season`). Not partitioned,
in group `benchmarks` and in no job: materialise it from the UI after a season run. Thin.
"""

import math
from pathlib import Path
from typing import Any

import dagster as dg

from lotus_core.report.season import (
    RESULTS_NAME,
    SeasonFileError,
    compact,
    markdown,
    read_kept,
    summarise,
)

CHECKOUT = Path(__file__).resolve().parents[1]
"""The checkout the code location runs from (installed editable by `make setup`)."""


class SeasonConfig(dg.Config):
    """Which kept season to show."""

    path: str = str(CHECKOUT / RESULTS_NAME)  # what `bench economics --json` wrote


def _season_figures(s: dict[str, Any]) -> dict[str, float]:
    """The season's net P&L per market and arm (mean over seeds), numbers the UI can plot."""
    out = {}
    for r in s["table"]:
        if r["night"] == "season" and math.isfinite(r["net"][0]):
            out[f"net_{r['market']}_{r['arm']}_usd"] = round(r["net"][0], 2)
    return out


@dg.asset(group_name="benchmarks", description="The season table of `python -m bench economics`: "
          "paper P&L net of every cost on a planted market and its null twin, learning on and "
          "frozen after night 1, with 95 % intervals over seeds, and the targets.")
def economics_season(context: dg.AssetExecutionContext,
                     config: SeasonConfig) -> dg.MaterializeResult:
    path = Path(config.path)
    try:
        kept = read_kept(path)
    except SeasonFileError as e:
        raise dg.Failure(description=str(e)) from e
    s = summarise(kept["rows"])
    seeds = sorted({r["seed"] for r in kept["rows"]})
    met = [t["met"] for t in s["targets"]]
    partition = kept.get("partition", "?")
    context.log.info("%s: %s seeds %s, %d nights, targets met %d of %d", path, partition,
                     seeds, len(s["nights"]), sum(m is True for m in met), len(met))
    return dg.MaterializeResult(metadata={
        "season": dg.MetadataValue.md(compact(s)),
        "by_night": dg.MetadataValue.md(markdown(s)),
        "path": dg.MetadataValue.path(str(path)),
        "seeds_partition": partition,  # "evaluation": sealed seeds, never used for a choice
        "seeds": len(seeds),
        "nights": len(s["nights"]),
        "targets_met": sum(m is True for m in met),
        "targets_judged": sum(m is not None for m in met),
        **_season_figures(s),
    })


SEASON_ASSETS = [economics_season]
