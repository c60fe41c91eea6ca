"""bench.trader_levels's tables, as BENCHMARKS.md's two Paper Trader sections show them, on
constructed counts (the comparison itself needs hftbacktest's venv: `python -m bench trader`)."""

from collections import Counter

from bench.trader_levels import limit_table, market_table, new_limit, new_market


def test_the_market_table_has_a_column_for_each_rule_an_order_needed():
    mk = new_market()
    mk.update({"n": 111, "single": 72, "single_identical": 47, "multi": 39, "levels": 86,
               "levels_identical": 54, "same_qty": 110, "walk_checked": 111,
               "walk_matches_response": 111,
               "rules": Counter(identical=25, stale_level=5, crossed_stale=9),
               "single_rules": Counter(stale_level=14, missing_level=11)})
    text = market_table(mk)
    head, rows = text.split("\n\n")
    assert "**39 walked several levels in at least one engine" in " ".join(head.split())
    assert rows.splitlines()[0] == ("| market orders | identical | stale_level | crossed_stale | "
                                    "missing_level | unexplained |")  # a rule no order needed: out
    assert rows.splitlines()[2:] == ["| several levels | 25 | 5 | 9 | 0 | 0 |",
                                     "| one level | 47 | 14 | 0 | 11 | 0 |"]


def test_the_limit_table_counts_each_order_once_and_says_why_times_differ():
    lim = new_limit()
    lim["by_cause"] = {"book_crossed": Counter(n=10, agree=7, time=3),
                       "unfilled": Counter(n=2, hft_only=1, neither=1)}
    lim["why_time"] = Counter(hft_stale=2, lotus_earlier=1)
    lim["why_hft_only"] = Counter(hft_stale=1)
    text = limit_table(lim, 0.10, 1.0)
    words = " ".join(text.split("\n\n")[0].split())  # the paragraph, its lines joined
    assert words.startswith("Limit orders 12 (margins: filled fraction 10%, last fill 1 s): ")
    assert "**4 (33%) beyond a margin**" in words  # 3 apart in time + 1 filled by hftbacktest only
    assert "on 2, at one that reached it on 0, Lotus first on 1" in words
    assert ("| **all** | 12 | 7 (58%) | 0 (0%) | 3 (25%) | 0 (0%) | 0 (0%) | 1 (8%) | 1 (8%) |"
            in text)
