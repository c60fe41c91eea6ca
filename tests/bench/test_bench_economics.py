"""bench.economics: a tiny season through the real pipeline (the arms agree until night 1's
learning is all the frozen arm keeps, then part: the versions in force and the calibration
window show it), the frozen arm's selection against the real asset graph, and the summary,
intervals and targets on hand-made rows."""

from __future__ import annotations

import math

import pytest
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

from bench import economics
from bench.closed_loop import NIGHT_ASSETS, Size
from bench.economics import every_asset, frozen_assets, one_market
from lotus_core.intervals import t_interval as interval
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.report.season import (
    ARMS,
    FIGURES,
    MARKETS,
    by_seed,
    ci,
    compact,
    markdown,
    summarise,
    targets,
    totals,
)

SEED = load_seeds().seeds("tuning", "economics", "twins", 1)[0]
ROW_FIELDS = {"seed", "market", "arm", "night", "day", "net", "gross", "fees", "funding",
              "traded", "maker_share", "fills", "maker_fills", "start_equity",
              "sig_priors_ver", "tr_priors_ver", "calibration_window"}


@pytest.mark.slow
def test_a_tiny_season_runs_both_arms_and_freezes_after_night_1(tmp_path):
    """Three nights (the arms part from day 3), one coin, one hour a day: too little history
    for the DM to leave its prior, so the figures are zero; what is checked is the rows and
    the freeze."""
    m = one_market(SEED, "planted", Size(days=3, hours=(0, 1), coins=("BTC",)),
                   str(tmp_path), log=lambda _: None)
    rows = m["rows"]
    assert [(r["arm"], r["night"]) for r in rows] == [
        ("on", 1), ("frozen", 1), ("on", 2), ("frozen", 2), ("on", 3), ("frozen", 3)]
    for r in rows:
        assert set(r) == ROW_FIELDS and r["seed"] == SEED and r["market"] == "planted"
        assert r["start_equity"] > 0 and r["fills"] >= 0 and r["traded"] >= 0
        assert math.isclose(r["net"], r["gross"] - r["fees"] + r["funding"], abs_tol=1e-6)
    on = {r["night"]: r for r in rows if r["arm"] == "on"}
    frozen = {r["night"]: r for r in rows if r["arm"] == "frozen"}
    for n in (1, 2):  # the same days: night 1's learning is in force in both arms
        assert {k: v for k, v in on[n].items() if k not in ("arm", "maker_share")} == \
            {k: v for k, v in frozen[n].items() if k not in ("arm", "maker_share")}
    # day 3: the learning arm runs on night 2's priors and a calibration fitted on days 1-2;
    # the frozen arm still on night 1's (the versions day 2 read) and day 2's calibration
    assert on[3]["sig_priors_ver"] > on[2]["sig_priors_ver"] > 0
    assert on[3]["tr_priors_ver"] > on[2]["tr_priors_ver"] > 0
    assert on[3]["calibration_window"] != on[2]["calibration_window"]
    assert (frozen[3]["sig_priors_ver"], frozen[3]["tr_priors_ver"],
            frozen[3]["calibration_window"]) == (on[2]["sig_priors_ver"],
                                                  on[2]["tr_priors_ver"],
                                                  on[2]["calibration_window"])
    assert m["cpu_s"] > 0 and m["stamp"]["code_hash"]
    s = summarise(rows)  # the null twin not run: its cells are empty, nothing is judged
    assert len(s["table"]) == 4 * 4 and all(t["met"] is None for t in s["targets"])
    assert "| **season** | planted | on | 1 |" in markdown(s)


def test_the_frozen_arm_leaves_out_exactly_the_learning_assets():
    from lotus_location.definitions import ASSETS

    graph = AssetGraph.from_assets(list(ASSETS))

    def names(selection) -> set[str]:
        return {k.to_user_string() for k in selection.resolve(graph)
                if graph.get(k).is_materializable}

    every = names(every_asset())
    assert "raw_feed" not in every and {"paper_trades", "tr_priors", "active_priors"} <= every
    learning = {*NIGHT_ASSETS, "loop_report", "exec_lessons", "tr_priors"}
    assert every - names(frozen_assets(calibrate=True)) == learning
    assert every - names(frozen_assets(calibrate=False)) == learning | {"dm_calibration"}


def test_a_stopped_run_keeps_its_finished_markets_and_resume_runs_only_the_rest(tmp_path):
    size = Size(days=3, hours=(0, 1), coins=("BTC",))
    markets = [{"seed": s, "market": k, "cpu_s": 1.0, "wall_s": 1.0, "stamp": {},
                "rows": [_row(s, k, a, n, 1.0) for a in ARMS for n in (1, 2, 3)]}
               for s in (7, 8) for k in MARKETS]
    path = tmp_path / "kept.json"
    economics._write_atomic(path, economics.kept_rows("evaluation", [7, 8], size, [0, 0],
                                                      markets[:3]))
    back = economics.resumed(path, "evaluation", size)
    assert back == markets[:3]
    seen = []
    # every market kept: nothing runs (one_market would need a Dagster instance)
    assert economics.run_markets([7, 8], size, done=markets, on_done=seen.append) == markets
    assert seen == []
    assert economics.resumed(tmp_path / "none.json", "evaluation", size) == []
    with pytest.raises(SystemExit, match="holds evaluation seeds"):
        economics.resumed(path, "tuning", size)
    with pytest.raises(SystemExit, match="holds evaluation seeds"):
        economics.resumed(path, "evaluation", Size(days=4, hours=(0, 1), coins=("BTC",)))
    with pytest.raises(SystemExit):
        economics.main(["--resume", "--nights", "2"])


def test_write_is_refused_without_the_sealed_seeds():
    with pytest.raises(SystemExit):
        economics.main(["--write", "--nights", "2"])
    with pytest.raises(SystemExit):
        economics.main(["--nights", "1"])


# --- the summary on hand-made rows ----------------------------------------------------------


def _row(seed, market, arm, night, net, traded=1000.0, fills=10, maker_fills=4, fees=1.0,
         funding=0.0):
    return {"seed": seed, "market": market, "arm": arm, "night": night, "day": f"d{night}",
            "net": net, "gross": net + fees - funding, "fees": fees, "funding": funding,
            "traded": traded, "fills": fills, "maker_fills": maker_fills,
            "maker_share": maker_fills / fills if fills else math.nan,
            "start_equity": 100_000.0, "sig_priors_ver": night, "tr_priors_ver": night,
            "calibration_window": "-"}


def _season(nets, nights=4, extra=None):
    """Rows whose season nets are `nets[(market, arm)][seed index]`, spread evenly over the
    nights; `extra[(market, arm)]`: other figures of those rows."""
    rows = []
    for (market, arm), per_seed in nets.items():
        for i, season_net in enumerate(per_seed):
            for n in range(1, nights + 1):
                rows.append(_row(100 + i, market, arm, n, season_net / nights,
                                 **(extra or {}).get((market, arm), {})))
    return rows


GOOD = {("planted", "on"): [400.0, 520.0, 460.0], ("planted", "frozen"): [100.0, 180.0, 130.0],
        ("null", "on"): [-10.0, 6.0, 1.0], ("null", "frozen"): [-4.0, 2.0, 3.0]}


def test_totals_pool_maker_share_over_fills_and_leave_it_undefined_without_fills():
    rows = [_row(1, "planted", "on", 1, 5.0, fills=10, maker_fills=2),
            _row(1, "planted", "on", 2, -1.0, fills=30, maker_fills=18)]
    t = totals(rows)
    assert t["net"] == 4.0 and t["fills"] == 40 and t["maker_share"] == 0.5
    assert t["traded"] == 2000.0 and t["fees"] == 2.0 and t["gross"] == 6.0
    assert math.isnan(totals([_row(1, "null", "on", 1, 0.0, fills=0, maker_fills=0)])
                      ["maker_share"])


def test_ci_is_the_t_interval_of_the_finite_values():
    assert ci([1.0, math.nan, 2.0, 3.0]) == interval([1.0, 2.0, 3.0])
    m, lo, hi = ci([2.0])
    assert m == 2.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(x) for x in ci([math.nan]))


def test_summary_per_night_season_and_paired_differences():
    rows = _season(GOOD)
    s = summarise(rows)
    assert s["nights"] == [1, 2, 3, 4]
    assert len(s["table"]) == 5 * len(MARKETS) * len(ARMS)
    season = {(r["market"], r["arm"]): r for r in s["table"] if r["night"] == "season"}
    for key, nets in GOOD.items():
        assert season[key]["net"] == pytest.approx(interval(nets))
        assert set(FIGURES) <= set(season[key]) and season[key]["seeds"] == 3
    assert season["planted", "on"]["traded"][0] == pytest.approx(4000.0)
    assert season["planted", "on"]["maker_share"][0] == pytest.approx(0.4)
    night1 = next(r for r in s["table"] if (r["night"], r["market"], r["arm"])
                  == ("1", "planted", "on"))
    assert night1["net"] == pytest.approx(interval([n / 4 for n in GOOD["planted", "on"]]))
    d = next(x for x in s["diffs"] if x["night"] == "season")
    paired = [a - b for a, b in zip(GOOD["planted", "on"], GOOD["planted", "frozen"],
                                    strict=True)]
    assert d["on-frozen planted"] == pytest.approx(interval(paired))
    assert d["planted-null on"] == pytest.approx(interval(
        [a - b for a, b in zip(GOOD["planted", "on"], GOOD["null", "on"], strict=True)]))
    # by seed: a seed present in one arm only is left out of the pairing
    short = [r for r in rows if not (r["seed"] == 102 and r["arm"] == "frozen")]
    assert sorted(by_seed(short, "planted", "frozen")) == [100, 101]
    d = next(x for x in summarise(short)["diffs"] if x["night"] == "season")
    assert d["on-frozen planted"] == pytest.approx(interval(paired[:2]))


def test_targets_met_on_a_market_that_pays_and_a_quiet_null():
    t = targets(_season(GOOD, extra={("null", "on"): {"traded": 50.0}}))
    assert [x["met"] for x in t] == [True, True, True, True, True]
    assert "USD" in t[0]["figure"] and "-50.00 USD" in t[1]["target"]
    rows = _season(GOOD)
    text = markdown(summarise(rows))
    assert "| **season** | planted | on | 3 |" in text and "planted - null on" in text
    markets = [{"seed": 100 + i, "market": m, "cpu_s": 1800.0,
                "stamp": {"commit": "0123456789abcdef", "dirty": False, "code_hash": "c0de"}}
               for i in range(3) for m in MARKETS]
    doc = economics.section(summarise(rows), rows, markets, "python -m bench economics --final",
                            Size(days=4, hours=(0, 24)), [1.0, 2.0])
    assert "seeds 100-102" in doc and "3.0 h of CPU over 6" in doc
    assert compact(summarise(rows)) in doc


@pytest.mark.parametrize("broken, failed", [
    ({("planted", "on"): [400.0, -300.0, 100.0]}, [0, 3]),      # the interval holds zero
    ({("null", "on"): [-80.0, -60.0, -70.0],
      ("null", "frozen"): [-80.0, -60.0, -70.0]}, [1]),          # below -0.05 % of equity
    ({("planted", "frozen"): [390.0, 515.0, 470.0]}, [3]),      # freezing costs nothing
    ({("null", "frozen"): [-60.0, -40.0, -50.0]}, [4]),         # learning moves the null
])
def test_each_target_fails_on_its_own_counterexample(broken, failed):
    t = targets(_season({**GOOD, **broken}, extra={("null", "on"): {"traded": 50.0}}))
    assert [i for i, x in enumerate(t) if x["met"] is False] == failed


def test_a_busy_null_twin_fails_the_turnover_target_and_one_seed_judges_no_interval():
    t = targets(_season(GOOD, extra={("null", "on"): {"traded": 200.0}}))
    assert t[2]["met"] is False
    assert t[2]["figure"] == "600 vs 3,000 USD"  # the last 3 nights of 4
    one_seed = _season({k: v[:1] for k, v in GOOD.items()},
                       extra={("null", "on"): {"traded": 50.0}})
    assert [x["met"] for x in targets(one_seed)] == [None, True, True, None, None]
    assert "not judged" in markdown(summarise(one_seed))


def test_the_section_shows_the_season_and_net_by_night_in_a_screen(tmp_path, capsys):
    """What BENCHMARKS.md gets is the season (every figure), net P&L night by night, the
    season's paired differences and the targets; a run's kept rows (`--json`) render the
    same tables again with `--from-json`, without running anything."""
    rows = _season(GOOD, nights=10)
    s = summarise(rows)
    text = compact(s)
    assert len(text.splitlines()) <= 30, text
    assert "| **season** | planted | on | 3 |" in text
    assert "| planted | on | +46.00 | +46.00 |" in text  # 1,380 USD over 3 seeds x 10 nights
    assert "| 1 | planted | on |" not in text  # the nights' full rows stay out
    kept = tmp_path / "rows.json"
    kept.write_text(__import__("json").dumps({
        "partition": "tuning", "seeds": [100, 101, 102], "load": [1.0, 1.0],
        "size": {"nights": 10, "hours": [0, 24], "coins": ["BTC"]},
        "markets": [], "rows": rows}))
    out = economics.main(["--from-json", str(kept)])
    assert out["summary"]["targets"] == s["targets"]
    assert "| 1 | planted | on | 3 |" in capsys.readouterr().out  # the full tables printed
    with pytest.raises(SystemExit):
        economics.main(["--from-json", str(kept), "--write"])  # tuning rows: never written
