"""A replay carries the standing curator actions the day was published under: the
fixture day is scored, as `score_signals` scores it, with a standing veto
signed through the Curator API's own pieces into a real fabric; the null replay given the
fabric's actions reproduces that published set, and without them it would not. Actions
signed after the day change nothing and are not among the replay's inputs. The CLI reads
the actions from the settings' fabric as the nightly asset does."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.curators import load_curators
from lotus_core.dsi import load_registry
from lotus_core.experiments import Alternative, actions_as_of, code_commit, run_experiment
from lotus_core.schemas import asset_schemas
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.priors import NO_PRIORS
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import sqlite_url
from lotus_core.time import day_bounds_ms
from tests.core.experiments.lake_kit import DAY1, ScoredLake, scored_lake_at
from tests.kits.curator_api_kit import log_detector_action
from tests.kits.signals_kit import fixture_sha256

SETTLE_MS = load_curators().standing_actions.settle_s * 1000


def _run(s: ScoredLake, actions, **kw):  # noqa: ANN001, ANN202
    return run_experiment(s.lake, s.day, Alternative(), s.base, priors=NO_PRIORS,
                          history_days=7, dsi_history_days=3, commit=code_commit(),
                          n_boot=200, save=False, actions=actions, **kw)


@pytest.fixture(scope="module")
def vetoed_day(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The scored lake re-scored with a data-curator veto standing on the detector that
    published most, from the middle of its publications on; the fabric holding the veto."""
    home = tmp_path_factory.mktemp("standing") / "home"
    s = scored_lake_at(home / "lake")
    plain = s.lake.read("signal_events", s.day)
    pub = plain[plain["published"]]
    detector = str(pub["detector_id"].value_counts().idxmax())
    ts = pub.loc[pub["detector_id"] == detector, "ts_ms"].sort_values().to_numpy()
    signed = int(ts[len(ts) // 2]) - SETTLE_MS  # in force from the middle window on
    fabric = OpsDb.open(sqlite_url(home / "fabric.sqlite"))  # the CLI's default fabric
    try:
        log_detector_action(fabric, "bob", "data", "veto", detector, signed)
        actions, _ = read_detector_actions(fabric)  # as score_signals reads them
    finally:
        fabric.close()
    # the nightly score of the day, with the fabric's actions (lake_kit.build_lake's inputs)
    result = score_day(s.lake.read("microtape_frames", s.day), s.day,
                       fingerprint=fixture_sha256(s.day),
                       history=s.lake.read("detector_windows", DAY1).assign(date=DAY1),
                       dsi=s.lake.read("dsi_annotations", s.day), actions=actions,
                       scoring=load_scoring(), council=load_curators())
    s.lake.write("signal_events", s.day, result.events,
                 validate=asset_schemas(load_registry()).get("signal_events"))
    return s, home, plain, detector, actions


def test_the_null_replay_reproduces_a_day_published_under_a_standing_veto(vetoed_day) -> None:
    s, _, plain, detector, actions = vetoed_day
    stored = s.lake.read("signal_events", s.day)
    lost = plain["published"] & ~stored["published"]
    assert lost.sum() > 0 and set(stored.loc[lost, "detector_id"]) == {detector}
    assert stored.loc[stored["detector_id"] == detector, "published"].any()  # before it stood

    with_actions = _run(s, actions)
    assert with_actions.row["null_reproduced"] is True, json.loads(
        with_actions.row["metrics"])["null_reason"]
    assert with_actions.null.events["published"].tolist() == stored["published"].tolist()
    inputs = json.loads(with_actions.row["inputs"])
    assert f"curator_actions@{s.day}" in inputs

    without = _run(s, ())  # the difference is real: the veto is what the replay must carry
    assert without.row["null_reproduced"] is False
    assert json.loads(without.row["metrics"])["null_reason"].startswith(
        ("published differs", "vetoed differs"))
    assert without.null.events["published"].tolist() == plain["published"].tolist()
    assert f"curator_actions@{s.day}" not in json.loads(without.row["inputs"])


def test_actions_signed_after_the_day_are_not_replay_inputs(vetoed_day) -> None:
    s, _, _, _, actions = vetoed_day
    end = day_bounds_ms(s.day)[1]
    late = [*actions, {**actions[0], "seq": 99, "action_id": "late", "signed_ts_ms": end,
                       "target_id": "flow_pressure_v1"}]
    assert actions_as_of(late, s.day) == tuple(actions)
    first, again = _run(s, actions), _run(s, late)
    assert again.row["null_reproduced"] is True
    assert again.row["inputs_hash"] == first.row["inputs_hash"]
    assert actions_as_of(actions, DAY1) == ()  # the day before: nothing was signed yet


def test_the_cli_replays_with_the_fabrics_standing_actions(vetoed_day) -> None:
    s, home, _, _, _ = vetoed_day
    out = CliRunner().invoke(cli, ["experiment", "run", "--day", s.day, "--no-record",
                                   "--n-boot", "200", "--json"],
                             env={"LOTUS_HOME": str(home), "LOTUS_CONFIG": ""})
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["null_reproduced"] is True, body["metrics"]["null_reason"]
    assert f"curator_actions@{s.day}" in body["inputs"]
