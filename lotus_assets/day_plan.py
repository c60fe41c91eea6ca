"""A day of the chain as Dagster runs, in phases.

A Dagster run is one partition of one partitions definition, so the daily stages and the
day x coin stages (`microtape_frames`: one run per coin of the day) cannot share a run or a
job: `lotus_daily` holds the daily assets, `lotus_coins` the day x coin ones. A day is then
a sequence of phases, each all daily or all by coin, in dependency order (a daily phase,
the coin phase of what it feeds, the daily phase of what reads the coins, ...): one run for
a daily phase, one run per coin of the day for a coin phase. The coins of a day are those
its `raw_feed` partition found (`lotus_assets.feed.day_coins`), read back from the lake.

A phase that fails stops the day: every later phase reads it (a coin that failed leaves
that coin's previous partition, and the day after it is not built on a partial day).
Dagster's own asset backfills (the UI's "Materialize" over a range) order the same runs
from the same dependencies; this module is what the CLI, the backfill job, the nightly
schedule's run and the tests use to run one day without the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

from lotus_assets.feed import day_coins
from lotus_assets.partitions import day_coin_key, unsized_windows
from lotus_core.store.lake import Lake, ObjectLake

DAILY_JOB = "lotus_daily"
COINS_JOB = "lotus_coins"


def by_coin(assets_def: dg.AssetsDefinition) -> bool:
    """True for a day x coin asset (partitioned by a date and a coin dimension)."""
    return isinstance(assets_def.partitions_def, dg.MultiPartitionsDefinition)


@dataclass(frozen=True)
class Phase:
    """Assets of one kind that run together: one run (daily) or one run per coin."""

    by_coin: bool
    keys: tuple[dg.AssetKey, ...]
    ops: frozenset[str]  # the op names of those assets (what a run config may configure)
    checks: tuple[dg.AssetCheckKey, ...] = ()  # the checks selected to run in it

    @property
    def job(self) -> str:
        return COINS_JOB if self.by_coin else DAILY_JOB


def day_phases(graph: Any, selected: Iterable[dg.AssetKey],
               checks: Iterable[dg.AssetCheckKey] = ()) -> list[Phase]:
    """The selected assets of `graph` (an asset graph) in phases: a daily asset in the
    first even phase at or after its parents', a day x coin asset in the first odd one, so
    each phase holds one kind and follows everything it reads of its own day (a window of
    earlier days only orders nothing: those days' plans ran before). `checks` run with their
    asset; those of assets not selected in the last phase of their asset's kind (after
    every selected asset)."""
    wanted = set(selected)
    level: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        if key not in wanted:
            continue
        node = graph.get(key)
        coin = isinstance(node.partitions_def, dg.MultiPartitionsDefinition)
        at = max([level[p] for p in node.parent_keys
                  if p in level and p != key and not _earlier_only(node, p)], default=0)
        level[key] = at + ((at % 2 == 0) == coin)  # round up to the kind's parity
    last = max(level.values(), default=0)
    apart: dict[int, list[dg.AssetCheckKey]] = {}
    for check in checks:
        if check.asset_key in level:
            apart.setdefault(level[check.asset_key], []).append(check)
            continue
        coin = isinstance(graph.get(check.asset_key).partitions_def,
                          dg.MultiPartitionsDefinition)
        apart.setdefault(last + ((last % 2 == 0) == coin), []).append(check)
    phases = []
    for lv in sorted(set(level.values()) | set(apart)):
        keys = tuple(k for k in level if level[k] == lv)
        ops = frozenset(graph.get(k).assets_def.node_def.name for k in keys)
        phases.append(Phase(by_coin=lv % 2 == 1, keys=keys, ops=ops,
                            checks=tuple(apart.get(lv, ()))))
    return phases


def _earlier_only(node: Any, parent: dg.AssetKey) -> bool:
    """True when `node` reads only days before its own of `parent` (a history window): the
    day's plan need not order them, the earlier days' plans made those partitions."""
    mapping = node.assets_def.get_partition_mapping(parent)
    return isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.end_offset < 0


def phases_for(assets: Sequence[Any], selection: Any = None) -> list[Phase]:
    """The phases of `assets` (the selected ones, every asset when None; checks selected
    apart from their asset included). A phase depends only on what reads what and on the
    partitions, never on the settings."""
    graph = AssetGraph.from_assets(list(assets))  # no resources asked for
    chosen = (dg.AssetSelection.all() if selection is None
              else dg.AssetSelection.from_coercible(selection))
    materializable = {k for k in chosen.resolve(graph) if graph.get(k).is_materializable}
    return day_phases(graph, materializable, chosen.resolve_checks(graph))


def coins_of_day(lake: Lake | ObjectLake, day: str) -> list[str]:
    """The coins of `day`: those its raw_feed partition found (a coin phase runs each)."""
    if not lake.exists("raw_feed", day):
        raise dg.DagsterInvariantViolationError(
            f"no raw_feed partition for {day}: the day x coin stages run the coins it found; "
            "materialise raw_feed for that day first")
    return day_coins(lake.read("raw_feed", day, ["coin", "frames"]))


def phase_config(run_config: Mapping[str, Any] | None, phase: Phase) -> dict[str, Any]:
    """`run_config` with only the op config of `phase`'s ops (a run refuses config for an
    op it does not hold)."""
    config = dict(run_config or {})
    if "ops" in config:
        config["ops"] = {k: v for k, v in config["ops"].items() if k in phase.ops}
    return config


def partition_keys(phase: Phase, day: str, coins: Callable[[], list[str]]) -> list[str]:
    """The partition keys a phase runs on `day`: the day, or each coin's key of it."""
    return [day_coin_key(day, c) for c in coins()] if phase.by_coin else [day]


def partition_tags(key: str | dg.MultiPartitionKey) -> dict[str, str]:
    """The tags that name a run's partition (a day x coin key: and each dimension's)."""
    tags = {"dagster/partition": str(key)}
    if isinstance(key, dg.MultiPartitionKey):
        tags.update({f"dagster/partition/{d}": v for d, v in key.keys_by_dimension.items()})
    return tags


RunOne = Callable[[Phase, str], Any]
"""Runs one phase for one partition key; returns a result with `.success` and `.run_id`."""


@dataclass
class DayRun:
    """The runs of one day, in order; `success` when every run succeeded (a day stops at
    its first failed phase). The lookups a single run's result has (materializations,
    events, check evaluations) are asked of every run."""

    day: str
    results: list[Any] = field(default_factory=list)
    stopped: str | None = None  # why the day stopped early

    @property
    def success(self) -> bool:
        return self.stopped is None and all(r.success for r in self.results)

    @property
    def run_id(self) -> str:
        """The last run's id (the daily phase that closes the day)."""
        return self.results[-1].run_id if self.results else ""

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.results]

    @property
    def all_events(self) -> list[Any]:
        return [e for r in self.results for e in r.all_events]

    def asset_materializations_for_node(self, node_name: str) -> list[Any]:
        return [m for r in self.results if node_name in _nodes(r)
                for m in r.asset_materializations_for_node(node_name)]

    def get_asset_materialization_events(self) -> list[Any]:
        return [e for r in self.results for e in r.get_asset_materialization_events()]

    def get_asset_check_evaluations(self) -> list[Any]:
        return [e for r in self.results for e in r.get_asset_check_evaluations()]

    def get_step_failure_events(self) -> list[Any]:
        return [e for r in self.results for e in r.get_step_failure_events()]

    def output_for_node(self, node_name: str, output_name: str = "result") -> Any:
        """The node's output in the run that ran it (a day x coin node: its last coin's)."""
        for r in reversed(self.results):
            if node_name in _nodes(r):
                return r.output_for_node(node_name, output_name)
        raise KeyError(f"no run of {self.day} ran {node_name}")


def _nodes(result: Any) -> set[str]:
    return set(result.job_def.graph.node_names())


def run_day(day: str, phases: Sequence[Phase], coins: Callable[[], list[str]],
            run_one: RunOne, on_run: Callable[[Phase, str, Any], None] | None = None
            ) -> DayRun:
    """Each phase's runs in order, stopping at the first phase with a failed run."""
    out = DayRun(day)
    for phase in phases:
        for key in _keys(phase, day, coins, out):
            result = run_one(phase, key)
            out.results.append(result)
            if on_run is not None:
                on_run(phase, key, result)
        failed = [r.run_id for r in out.results if not r.success]
        if failed or out.stopped:
            out.stopped = out.stopped or (
                f"{phase.job} failed for {day} (run {', '.join(failed)}); the phases after "
                "it were not run")
            break
    return out


def _keys(phase: Phase, day: str, coins: Callable[[], list[str]], out: DayRun) -> Iterator[str]:
    try:
        keys = partition_keys(phase, day, coins)
    except dg.DagsterInvariantViolationError as exc:
        out.stopped = str(exc)
        return
    if not keys:
        out.stopped = f"{day} has no coin in its raw_feed partition: nothing to run by coin"
    yield from keys


def materialize_day(assets: Sequence[Any], partition_key: str, *,
                    instance: dg.DagsterInstance | None = None,
                    lake: Lake | ObjectLake | None = None,
                    resources: Mapping[str, Any] | None = None,
                    selection: Any = None, run_config: Mapping[str, Any] | None = None,
                    raise_on_error: bool = True,
                    tags: Mapping[str, str] | None = None) -> DayRun:
    """`dg.materialize` of one day (`partition_key`) for assets that mix daily and day x
    coin partitions: the selected assets (all when None) in phases, each partition its own
    in-process run. `lake`: where the day's coins are read (default: the `lake` resource);
    one instance holds every run (an ephemeral one when None: the coins raw_feed registers
    must outlive its run). `assets` must have their shared-size windows sized
    (`lotus_assets.chain.sized_assets`, `partitions.size_windows`): one still at its
    placeholder is refused, named, before anything runs."""
    unsized = unsized_windows(assets)
    if unsized:
        raise dg.DagsterInvalidDefinitionError(
            f"lake windows not sized from the settings: {'; '.join(unsized)}. Materialise "
            "lotus_assets.chain.sized_assets(shared_values(settings)) (or "
            "partitions.size_windows(assets, values) for a part of the chain)")
    day = partition_key
    phases = phases_for(assets, selection)
    held = instance or dg.DagsterInstance.ephemeral()

    def coins() -> list[str]:
        store = lake if lake is not None else (resources or {})["lake"].get()
        return coins_of_day(store, day)

    def one(phase: Phase, key: str) -> dg.ExecuteInProcessResult:
        picked = (dg.AssetSelection.assets(*phase.keys).without_checks()
                  | dg.AssetSelection.checks(*phase.checks))
        return dg.materialize(assets, partition_key=key, instance=held,
                              resources=resources, selection=picked,
                              run_config=phase_config(run_config, phase),
                              raise_on_error=raise_on_error,
                              tags={**(tags or {}), "lotus/day": day})

    return run_day(day, phases, coins, one)


def run_day_in_process(defs: dg.Definitions, day: str, *, instance: dg.DagsterInstance,
                       run_config: Mapping[str, Any] | None = None,
                       tags: Mapping[str, str] | None = None,
                       lake: Lake | ObjectLake | None = None,
                       on_run: Callable[[Phase, str, Any], None] | None = None) -> DayRun:
    """One day of a code location's `lotus_daily` and `lotus_coins` jobs, in phases, each
    run in process (listed under its job: what `lotus materialize` and the tests that
    stand for the nightly run call). `run_config`: None takes each job's own (the shared
    settings'); `lake`: where the day's coins are read (default: the `lake` resource);
    `on_run(phase, key, result)` after each run (the CLI's progress)."""
    jobs = {name: defs.resolve_job_def(name) for name in (DAILY_JOB, COINS_JOB)}
    phases = day_phases(defs.resolve_asset_graph(),
                        {k for job in jobs.values() for k in job.asset_layer.selected_asset_keys})
    store = lake if lake is not None else defs.resources["lake"].get()

    def one(phase: Phase, key: str) -> dg.ExecuteInProcessResult:
        return jobs[phase.job].execute_in_process(
            partition_key=key, instance=instance, asset_selection=list(phase.keys),
            run_config=None if run_config is None else phase_config(run_config, phase),
            raise_on_error=False, tags={**(tags or {}), "lotus/day": day})

    return run_day(day, phases, lambda: coins_of_day(store, day), one, on_run)
