"""`lotus_backfill`: a range of days from one command, `dg launch --partition-range`; and
the nightly schedule's run (one day: lotus_sensors/schedules.py).

Dagster 1.13 accepts `--partition-range A...B` only for a job whose assets all carry
`BackfillPolicy.single_run()` (one run computes every day at once). Lotus's stages each
compute one day (or one coin of a day), and the learning chain needs day d-1's lessons
before day d, so instead of re-writing every asset for ranges, the range goes to this one-op
job (no assets, so the CLI's single-run check has nothing to refuse). Its op runs each day
of the range, in partition order, as that day's runs in phases (`lotus_daily`, a
`lotus_coins` run per coin, `lotus_daily` again: lotus_assets/day_plan.py), each a real run
of its own (tagged `lotus/backfill=<run id>`, so the UI lists them under their partitions),
and stops at the first failed day: every later day reads it. The op sits in the
`lotus_backfill` pool, whose limit (dagster.yaml `concurrency.pools`) keeps two overlapping
backfills from racing on the same days; the day's runs use the profile's executor (in
process on the embedded default, Celery workers in production). docs/surface.md.
"""

from datetime import date, timedelta

import dagster as dg

from lotus_assets.partitions import daily_partitions
from lotus_resources.settings import SettingsResource
from lotus_sensors.daily_run import run_day_out_of_process
from lotus_sensors.schedules import BACKFILL_JOB, feed_config

BACKFILL_POOL = "lotus_backfill"
BACKFILL_TAG = "lotus/backfill"


def range_days(start: str, end: str) -> list[str]:
    """Every day from start to end inclusive (ISO dates); a reversed range is an error."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"partition range {start}...{end} ends before it starts")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


class BackfillConfig(dg.Config):
    """`feed_dir`: where every run of the range reads its recordings (the nightly run reads
    the daemon's when the settings' feed directory is a frozen set); empty: the code
    location's `feed` resource as it is."""

    feed_dir: str = ""


@dg.op(pool=BACKFILL_POOL, description="Runs each day of the run's partition range, in "
       "order, as its lotus_daily and lotus_coins runs; stops at the first failed day.")
def backfill_days(context: dg.OpExecutionContext, config: BackfillConfig,
                  settings: SettingsResource) -> dg.Output[list[str]]:
    """The code location's settings (the `settings` resource): each day's runs use them."""
    key_range = context.partition_key_range
    days = range_days(key_range.start, key_range.end)
    lotus = settings.get()
    done: list[str] = []
    run_ids: dict[str, list[str]] = {}
    resources = ({"feed": {"config": feed_config(lotus, config.feed_dir)}} if config.feed_dir
                 else None)
    for day in days:
        context.log.info("%s (%d/%d): its runs in phases", day, len(done) + 1, len(days))
        result = run_day_out_of_process(lotus, day, context.instance,
                                        tags={BACKFILL_TAG: context.run_id},
                                        resources=resources)
        run_ids[day] = result.run_ids
        if not result.success:
            raise dg.Failure(
                f"{day} failed: {result.stopped or 'a run failed'} (runs "
                f"{', '.join(result.run_ids)}); days after it were not run, since each reads "
                f"the day before it. Done: {done or 'none'}",
                metadata={"failed_day": day, "run_id": result.run_id,
                          "runs": result.run_ids, "done": done})
        done.append(day)
    return dg.Output(done, metadata={"days": len(done), "first": days[0], "last": days[-1],
                                     "runs": run_ids})


@dg.job(name=BACKFILL_JOB, partitions_def=daily_partitions,
        description="A range of days, each day's runs in partition order: "
        "`dg launch --job lotus_backfill --partition-range 2026-02-02...2026-02-04`.")
def lotus_backfill() -> None:
    backfill_days()


def backfill_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[lotus_backfill])
