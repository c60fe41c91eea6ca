"""bench.scale's fast subset: the per-coin growth fit, the report and the section read
measured rows (no runs here: a 24-hour day takes minutes), and a coin count beyond the names
is refused."""

import pytest

from bench.scale import COIN_NAMES, generate, per_coin, report, section


def _row(coins: int, mode: str, cpu: float, audits: float) -> dict:
    return {"coins": coins, "hours": "0-24", "mode": mode, "cpu_s": cpu, "wall_s": cpu * 2,
            "step_sum_s": cpu * 1.9, "overhead_s": cpu * 0.1, "load_before": 1.0,
            "load_after": 1.0, "stages": ({"detector_audits": {"cpu_s": audits,
                                                               "peak_rss_mb": 100.0}}
                                          if mode == "in_process" else {})}


def test_growth_per_coin_is_the_fitted_slope():
    rows = [_row(3, "in_process", 50.0, 9.0), _row(10, "in_process", 120.0, 30.0),
            _row(3, "celery", 140.0, 0.0)]
    text = per_coin(rows)
    assert "| **in_process (whole run)** | 50.0 | 120.0 | 20.0 + 10.00 x | 10.00 |" in text
    assert "| detector_audits | 9.00 | 30.00 | 0.00 + 3.000 x | 3.000 |" in text
    assert "celery (whole run)" not in text  # one coin count: no slope to fit
    assert "| 10 x 24 h | in_process |" in report(rows)


def test_more_coins_than_names_is_refused(tmp_path):
    assert len(COIN_NAMES) == len(set(COIN_NAMES)) >= 30
    with pytest.raises(ValueError, match="--coins"):
        generate(tmp_path, len(COIN_NAMES) + 1, "0-24")


def test_growth_per_day_of_history_is_fitted_over_days_two_to_n():
    from bench.scale import history_factors, per_history, single_days

    run = [{**_row(2, "in_process", cpu, audits), "days": 4, "day_index": k,
            "date": "2026-11-22 15:00 UTC", "peak_rss_mb": 500.0}
           for k, cpu, audits in ((1, 30.0, 5.0), (2, 20.0, 6.0), (3, 22.0, 7.0), (4, 24.0, 8.0))]
    text = per_history(run)
    assert "| **whole run** | 30.0 | 20.0 | 22.0 | 24.0 | +2.000 |" in text  # day 1: cold start
    assert "| detector_audits | 5.00 | 6.00 | 7.00 | 8.00 | +1.000 |" in text
    assert single_days(run + [_row(3, "in_process", 50.0, 9.0)]) == [
        _row(3, "in_process", 50.0, 9.0)]  # multi-day rows stay out of the per-coin fits
    # steady state = the last three days over day 1; it scales the projection's stage
    assert history_factors(run) == {"detector_audits": 7.0 / 5.0}
    single = [_row(3, "in_process", 50.0, 9.0), _row(10, "in_process", 120.0, 30.0)]
    assert "| 0.00 + 0.125 x | 300 | 1.40 | 420 |" in report(single,
                                                            history=history_factors(run))


def test_the_section_shows_the_latest_run_of_each_size_and_the_heaviest_stages():
    older = {**_row(10, "in_process", 300.0, 60.0), "date": "2026-11-22 12:00 UTC"}
    rows = [{**_row(3, "in_process", 50.0, 9.0), "date": "2026-11-22 11:00 UTC"}, older,
            {**_row(10, "in_process", 120.0, 30.0), "date": "2026-11-22 13:00 UTC"},
            {**_row(3, "celery", 140.0, 0.0), "date": "2026-11-22 14:00 UTC"}]
    for r in rows:
        r["stages"] = {**r["stages"], **({f"stage_{k}": {"cpu_s": float(k), "peak_rss_mb": 1.0}
                                          for k in range(10)} if r["stages"] else {})}
    text = section(rows, "scale.json", "history.json")
    assert text.startswith("## Nightly chain at scale, and the executor per profile\n")
    assert "| 10 x 24 h | in_process | 240.0 |" in text and "| 10 x 24 h | in_process | 600.0 |" \
        not in text  # the older run of a size and executor leaves the table
    assert "| **in_process (whole run)** | 50.0 | 120.0 | 10.00 | |" in text
    assert "| detector_audits | 9.00 | 30.00 | 3.000 |" in text
    assert "| the other 5 stages | " in text  # 11 stages: the 6 heaviest by name, the rest summed
    assert "271 s" not in text and "(goal < 5 min: met), 120 CPU s" in text
    assert len(text.splitlines()) <= 40
