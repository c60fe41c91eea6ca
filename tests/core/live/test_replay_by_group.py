"""`live_parity`'s replay a coin group at a time (`parity.compare_by_group`,
`by_group.split_by_group`) gives the windows of one engine replaying the whole file.

The recording straddles a midnight (the warm start reads the previous day's tail, cut by
the same groups) and carries what a cut by coin could get wrong: lines refused by the day's
line rules because of other coins' lines (an exact duplicate, a line received behind the
running clock), trades frames that mix coins, trades re-sent by the venue, gap records for
every coin and for one, and a coin seen only on a refused line; once with every channel
and once with a real capture's (no activeAssetCtx, no candle). One coin a group, so every
coin is replayed apart.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.dsi import fit_dsi, load_registry
from lotus_core.feed.parse import parse_recording
from lotus_core.live.by_group import split_by_group
from lotus_core.live.engine import NightContext
from lotus_core.live.parity import compare_by_group, compare_windows, replay_windows
from lotus_core.live.recorder import gap_message
from lotus_core.microtape import MicroTapeParams
from lotus_core.signals.config import load_scoring
from lotus_core.signals.priors import NO_PRIORS
from lotus_core.time import DAY_MS, previous_day
from tests.kits.midnight import midnight_lines, recv_of, shift

pytestmark = pytest.mark.slow  # a few fixture minutes replayed four times

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "fixtures" / "2026-01-02.jsonl.gz"
DAY = "2026-01-06"


def _channel(line: bytes) -> str | None:
    msg = orjson.loads(line)["msg"]
    return msg.get("channel") if isinstance(msg, dict) else None


def _trade_coin(line: bytes) -> str:
    return orjson.loads(line)["msg"]["data"][0]["coin"]


def _behind_others(lines: list[bytes], start: int) -> tuple[int, bytes]:
    """(where, a line) for a trades frame of a coin X (new trades, a large size) received
    1 ms behind the clock that another coin's line set, yet after X's own latest line:
    refused in the whole file, kept by a replay of X's lines alone (so the cut must judge
    it with every coin's lines)."""
    for i in range(start, len(lines)):
        r = recv_of(lines[i])
        for j in range(i - 1, max(i - 80, 0), -1):
            x = lines[j]
            if _channel(x) != "trades" or recv_of(x) >= r - 1:
                continue
            coin = _trade_coin(x)
            if coin == _line_coin(lines[i]) or any(_line_coin(z) == coin
                                                     for z in lines[j + 1:i + 1]):
                break  # X has a later line
            rec = orjson.loads(x)
            rec["recv_ts_ms"] = r - 1
            for t in rec["msg"]["data"]:
                t["tid"] += 10**12
                t["sz"] = str(float(t["sz"]) * 50)
            return i + 1, orjson.dumps(rec) + b"\n"
    raise AssertionError("no place for a line behind another coin's clock")


def _line_coin(line: bytes) -> str | None:
    data = orjson.loads(line)["msg"].get("data")
    if isinstance(data, list):
        return data[0].get("coin") if data and isinstance(data[0], dict) else None
    return data.get("coin") if isinstance(data, dict) else None


def _gap(recv: int, start: int, end: int | None, coins: list[str] | None) -> bytes:
    msg = gap_message(start, end, "stall" if coins else "disconnect", coins)
    return b'{"recv_ts_ms":%d,"msg":%b}\n' % (recv, orjson.dumps(msg))


def _awkward(lines: list[bytes]) -> list[bytes]:
    """Today's lines with the cases in the module docstring added."""
    trades = [i for i, x in enumerate(lines) if _channel(x) == "trades"]
    a = trades[len(trades) // 3]
    b = next(i for i in trades[len(trades) // 3:] if _trade_coin(lines[i]) != _trade_coin(lines[a]))
    ra, rb = orjson.loads(lines[a]), orjson.loads(lines[b])
    mixed = {**rb, "msg": {**rb["msg"], "data": ra["msg"]["data"] + rb["msg"]["data"]}}
    out = list(lines)
    out[b] = orjson.dumps(mixed) + b"\n"  # b's frame now also carries a's (another coin's)
    mid = len(out) // 2
    late = next(x for x in out[:mid // 2] if _channel(x) == "l2Book")
    resent = [x for x in out[mid:mid + 400] if _channel(x) == "trades"][:3]
    stranger = orjson.loads(late)  # a coin seen only on a refused line: no group of its own
    stranger["msg"]["data"]["coin"] = "XYZ"
    extra = [(mid, late), (mid + 1, out[mid - 1]), _behind_others(out, mid + 200),
             (mid + 2, orjson.dumps(stranger) + b"\n")]
    extra += [(mid + 401 + k, orjson.dumps({**orjson.loads(x), "recv_ts_ms": recv_of(
        out[mid + 400])}) + b"\n") for k, x in enumerate(resent)]
    for at, line in sorted(extra, reverse=True):
        out.insert(at, line)
    at = len(out) * 3 // 4  # each record after the frames of its millisecond
    g = recv_of(out[at])
    while recv_of(out[at + 1]) <= g + 1:
        at += 1
    out[at + 1:at + 1] = [_gap(g, g - 40_000, g, None), _gap(g + 1, g - 20_000, g + 1, ["ETH"])]
    return out


def _real_channels(lines: list[bytes]) -> list[bytes]:
    """A real capture's channels: no activeAssetCtx, no candle."""
    return [x for x in lines if _channel(x) not in ("activeAssetCtx", "candle")]


@pytest.fixture(scope="module", params=["all_channels", "real_channels"])
def days(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    feed = tmp_path_factory.mktemp("feed")
    before, after = midnight_lines(FIXTURE, DAY, 5, 9)
    if request.param == "real_channels":
        before, after = _real_channels(before), _real_channels(after)
    for day, lines in ((previous_day(DAY), before), (DAY, _awkward(after))):
        (feed / f"{day}.jsonl.gz").write_bytes(gzip.compress(b"".join(lines), mtime=0))
    return feed


def _context() -> NightContext:
    return NightContext(DAY, None, fit_dsi(pd.DataFrame(), registry=load_registry()), None)


def test_the_recording_has_what_the_cut_could_get_wrong(days: Path) -> None:
    reasons = {d.reason for d in parse_recording(days / f"{DAY}.jsonl.gz", DAY, workers=1).dead}
    assert {"out_of_order", "duplicate_frame", "duplicate_trades"} <= reasons, reasons


def test_the_groups_replays_are_the_whole_replay(days: Path, tmp_path: Path) -> None:
    ctx, path = _context(), days / f"{DAY}.jsonl.gz"
    whole = replay_windows(path, DAY, ctx, NO_PRIORS, feed_dir=days, batch_lines=700,
                           scoring=load_scoring(), council=load_curators())
    groups = split_by_group(path, DAY, tmp_path / "g", previous=days / "2026-01-05.jsonl.gz",
                            group_coins=1)
    assert sorted(c for g in groups.groups for c in g) == ["BTC", "ETH", "SOL"]
    assert all(groups.feed_dir(i).joinpath("2026-01-05.jsonl.gz").exists() for i in range(3))
    parts = [replay_windows(groups.recording(i), DAY, ctx, NO_PRIORS,
                            feed_dir=groups.feed_dir(i), batch_lines=700,
                            scoring=load_scoring(), council=load_curators()) for i in range(3)]
    live = pd.concat(parts, ignore_index=True).sort_values(["ts_ms", "coin"], kind="stable",
                                                            ignore_index=True)
    report = compare_windows(whole, live)
    assert report.ok, report.describe()
    assert report.compared == len(whole) == len(live) > 100
    assert whole["published"].any()


def test_compare_by_group_reports_the_day(days: Path, tmp_path: Path) -> None:
    """Equal windows give the day's counts, the same whether the second group is replayed
    in a forked child (the default) or inline; a changed window (in the second group, so
    found by the child) and a coin only the nightly has are named."""
    ctx, path = _context(), days / f"{DAY}.jsonl.gz"
    nightly = replay_windows(path, DAY, ctx, NO_PRIORS, feed_dir=days,
                             scoring=load_scoring(), council=load_curators())
    seen: list[tuple[int, int]] = []
    report = compare_by_group([nightly[:500], nightly[500:]], path, DAY, ctx, NO_PRIORS,
                              feed_dir=days, group_coins=2, directory=tmp_path,
                              progress=lambda i, n: seen.append((i, n)),
                              scoring=load_scoring(), council=load_curators())
    assert report.ok and report.compared == len(nightly), report.describe()
    assert seen == [(1, 2), (2, 2)] and not list(tmp_path.iterdir())  # scratch removed
    inline = compare_by_group([nightly], path, DAY, ctx, NO_PRIORS, feed_dir=days,
                              group_coins=2, workers=1,  # the second group not forked
                              scoring=load_scoring(), council=load_curators())
    assert inline == report

    changed = nightly.copy()
    row = changed.index[changed["coin"] == "SOL"][10]
    changed.loc[row, "direction"] = -changed.loc[row, "direction"]
    ghost = changed[changed["coin"] == "BTC"].head(4).assign(coin="XRP", window_id=lambda f: (
        "ghost-" + f["window_id"].astype(str)))
    report = compare_by_group([pd.concat([changed, ghost], ignore_index=True)], path, DAY, ctx,
                              NO_PRIORS, feed_dir=days, group_coins=2,
                              scoring=load_scoring(), council=load_curators())
    assert not report.ok
    assert report.first is not None and report.first.window_id == changed.loc[row, "window_id"]
    assert report.first.column == "direction"
    assert report.missing_live == 4 and report.mismatched_windows == 5
    assert report.nightly_windows == len(nightly) + 4

    report = compare_by_group([], path, DAY, ctx, NO_PRIORS, feed_dir=days, group_coins=2,
                              scoring=load_scoring(), council=load_curators())
    assert report.extra_live == report.live_windows == len(nightly) and not report.ok


def test_a_day_of_one_group_is_replayed_whole_with_the_cuts_report(days: Path,
                                                                   tmp_path: Path) -> None:
    """`coins` at most `group_coins` replays the recording as it is (no cut): the same report
    as the cut into one group, the feed left as it was; a changed window is still found,
    and a day without nightly windows counts every live one as extra."""
    ctx, path = _context(), days / f"{DAY}.jsonl.gz"
    nightly = replay_windows(path, DAY, ctx, NO_PRIORS, feed_dir=days,
                             scoring=load_scoring(), council=load_curators())
    feed_before = sorted(p.name for p in days.iterdir())
    cut = compare_by_group([nightly], path, DAY, ctx, NO_PRIORS, feed_dir=days,
                           group_coins=3, directory=tmp_path,
                           scoring=load_scoring(), council=load_curators())
    whole = compare_by_group([nightly], path, DAY, ctx, NO_PRIORS, feed_dir=days,
                             group_coins=3, directory=tmp_path, coins=3,
                             scoring=load_scoring(), council=load_curators())
    assert whole == cut and whole.ok and whole.compared == len(nightly)
    assert sorted(p.name for p in days.iterdir()) == feed_before
    assert not list(tmp_path.iterdir())

    changed = nightly.copy()
    row = changed.index[changed["coin"] == "ETH"][5]
    changed.loc[row, "direction"] = -changed.loc[row, "direction"]
    report = compare_by_group([changed], path, DAY, ctx, NO_PRIORS, feed_dir=days, coins=3,
                              scoring=load_scoring(), council=load_curators())
    assert not report.ok and report.first is not None
    assert report.first.window_id == changed.loc[row, "window_id"]

    empty = compare_by_group([], path, DAY, ctx, NO_PRIORS, feed_dir=days, coins=3,
                             scoring=load_scoring(), council=load_curators())
    assert empty.extra_live == empty.live_windows == len(nightly) and not empty.ok


def _funding_raised(lines: list[bytes], by: float) -> list[bytes]:
    out = []
    for line in lines:
        rec = orjson.loads(line)
        if _channel(line) == "activeAssetCtx":
            ctx = rec["msg"]["data"]["ctx"]
            ctx["funding"] = f"{float(ctx['funding']) + by:.10f}"
        out.append(orjson.dumps(rec) + b"\n")
    return out


def test_a_groups_context_is_ranked_against_the_whole_earlier_days(days: Path,
                                                                   tmp_path: Path) -> None:
    """Funding ranked on 3 whole days: each group's replay reads the earlier recordings
    whole (as the nightly does), not its group's cut, which holds only the day before."""
    feed = tmp_path / "feed"
    feed.mkdir()
    for f in days.iterdir():
        (feed / f.name).write_bytes(f.read_bytes())
    before = gzip.decompress((days / f"{previous_day(DAY)}.jsonl.gz").read_bytes())
    lines = before.splitlines(keepends=True)
    day = previous_day(DAY)
    for k in (1, 2):  # two more earlier days, their funding higher than the day before's
        day = previous_day(day)
        moved = _funding_raised(shift(lines, -k * DAY_MS), k * 1e-5)
        (feed / f"{day}.jsonl.gz").write_bytes(gzip.compress(b"".join(moved), mtime=0))
    ctx, path = _context(), feed / f"{DAY}.jsonl.gz"
    params = MicroTapeParams(funding_rank_days=3, ctx_rank_min_minutes=3)
    whole = replay_windows(path, DAY, ctx, NO_PRIORS, feed_dir=feed, params=params,
                           scoring=load_scoring(), council=load_curators())
    has_ctx = any(_channel(x) == "activeAssetCtx" for x in lines)
    assert whole["funding_pctl"].notna().any() == has_ctx
    report = compare_by_group([whole], path, DAY, ctx, NO_PRIORS, feed_dir=feed,
                              group_coins=1, workers=1, params=params,
                              scoring=load_scoring(), council=load_curators())
    assert report.ok and report.compared == len(whole), report.describe()
