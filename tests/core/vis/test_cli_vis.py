"""`lotus vis submit`, `read` and `similar` on real PNG files, in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lotus_cli.main import cli
from tests.core.vis.chart_kit import chart


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOTUS_FABRIC_URL", raising=False)
    monkeypatch.delenv("LOTUS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _file(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


def test_submit_then_similar_finds_the_same_shape(home: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    ids = {}
    for name, (pattern, seed, kind, theme) in {
        "up": ("trend_up", 21, "candles", "light"),
        "down": ("trend_down", 22, "line", "dark"),
        "flat": ("range", 23, "candles", "dark"),
    }.items():
        path = _file(tmp_path, f"{name}.png", chart(pattern, seed, kind, theme)[2])
        res = run(cli, ["vis", "submit", path, "--at", "2026-01-05T09:00Z", "--json"])
        assert res.exit_code == 0, res.output
        ids[name] = json.loads(res.output)["strand_id"]
    query = _file(tmp_path, "query.png", chart("trend_up", 24, "line", "dark")[2])
    res = run(cli, ["vis", "similar", query, "-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.output)
    assert [h["strand_id"] for h in hits][0] == ids["up"]
    assert hits[0]["distance"] < hits[1]["distance"] and hits[0]["at"].startswith("2026-01-05")


def test_submit_refuses_a_bad_file_by_name(home: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, "chart.png", b"<html>not a chart</html>")
    res = CliRunner().invoke(cli, ["vis", "submit", path])
    assert res.exit_code == 1
    assert "chart.png refused: not a PNG or JPEG" in res.output
    assert not (home / "vis").exists()


def test_read_gives_times_with_at_and_says_why_not_without(home: Path, tmp_path: Path) -> None:
    bars, _, data = chart("trend_up", 25, "candles", "light")  # 5m bars from 2026-01-05 09:00
    path = _file(tmp_path, "c.png", data)
    end = datetime(2026, 1, 5, 9, tzinfo=UTC) + timedelta(minutes=5 * bars.n)
    res = CliRunner().invoke(cli, ["vis", "read", path, "--at", end.isoformat(), "--json"])
    assert res.exit_code == 0, res.output
    t_ms = json.loads(res.output)["t_ms"]
    start_ms = datetime(2026, 1, 5, 9, tzinfo=UTC).timestamp() * 1000
    assert len(t_ms) == bars.n and abs(t_ms[0] - start_ms) < 100_000  # a third of a bar
    res = CliRunner().invoke(cli, ["vis", "read", path])
    assert res.exit_code == 0, res.output
    assert "times: none (the time labels give times of day only" in res.output


@pytest.mark.postgres
def test_similar_on_a_postgresql_fabric_searches_it(home: Path, tmp_path: Path,
                                                    fabric_pg_dsn: str) -> None:
    """The production profile's fabric: the neighbours come from its pgvector column, and
    the default (SQLite) fabric, which recorded nothing, has none."""
    run = CliRunner().invoke
    ids = {}
    for name, (pattern, seed, kind, theme) in {"up": ("trend_up", 41, "candles", "light"),
                                               "down": ("trend_down", 42, "line", "dark")
                                               }.items():
        path = _file(tmp_path, f"{name}.png", chart(pattern, seed, kind, theme)[2])
        res = run(cli, ["vis", "submit", path, "--fabric-url", fabric_pg_dsn, "--json"])
        assert res.exit_code == 0, res.output
        ids[name] = json.loads(res.output)["strand_id"]
    query = _file(tmp_path, "query.png", chart("trend_up", 43, "line", "light")[2])
    res = run(cli, ["vis", "similar", query, "--fabric-url", fabric_pg_dsn, "--json"])
    assert res.exit_code == 0, res.output
    assert [h["strand_id"] for h in json.loads(res.output)] == [ids["up"], ids["down"]]
    res = run(cli, ["vis", "similar", query])
    assert res.exit_code == 0, res.output
    assert "no recorded charts to compare with" in res.output
