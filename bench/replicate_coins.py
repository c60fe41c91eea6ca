"""A many-coin lake made from a few-coin one: the daily readers' memory against the coins
(`bench.step_alone` on it) without generating and running a many-coin market.

    .venv/bin/python -m bench replicate_coins SRC_LAKE DST_LAKE DAY --copies 33
    .venv/bin/python -m bench replicate_coins SRC_LAKE DST_LAKE DAY --copies 33 \
        --feed SRC_FEED_DIR DST_FEED_DIR        # and the day's recording, coin by coin

Every coin file of DAY (`<asset>/date=DAY/coin=C/part.parquet`) is written `--copies` times:
copy 0 as it is, copy k as coin `C~k` (`~` sorts after letters, so the copies follow their
coin) with each `window_id`'s last three characters `U` and k (`U` is not a Crockford
digit: distinct windows, the same ULID time). The daily tables are copied as they are,
except those that list the day's coins (`raw_feed`'s summary, `microtape_days`), whose rows
are written once per copy. What it is for: a step that reads the day's coin files (the
audits, the cards, the checks of `signal_events` and `signal_eval`, the DM's calibration,
the learning window) sees N times the coins, each with a real coin's rows. With `--feed`
the day's recording is copied the same way (`replicate_feed`: every line that names a coin
written once per copy, renamed, in place; the rest once), so the steps that parse or replay
it (`raw_feed`, the DM and Trader) see ~N/3 times the lines too. Not a market: the copies
are perfectly correlated. A diagnostic, quick to make;
the per-step table is measured on generated many-coin days (`bench.scale`).
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COIN_LISTS = ("raw_feed", "microtape_days")


def copy_name(coin: str, k: int) -> str:
    return coin if k == 0 else f"{coin}~{k}"


def _ids(column: pa.ChunkedArray, k: int) -> pa.ChunkedArray:
    head = pc.utf8_slice_codeunits(column, 0, 23)  # "U": not a Crockford digit, so no
    return pc.binary_join_element_wise(head, pa.scalar(f"U{k:02d}", column.type),  # clash
                                       pa.scalar("", column.type))


def replicate_table(table: pa.Table, coin: str, k: int) -> pa.Table:
    if k == 0:
        return table
    out = table
    if "coin" in out.column_names:
        i = out.column_names.index("coin")
        named = pa.array([copy_name(coin, k)] * len(out), out.schema.field(i).type)
        out = out.set_column(i, out.schema.field(i), named)
    if "window_id" in out.column_names:
        i = out.column_names.index("window_id")
        out = out.set_column(i, out.schema.field(i), _ids(out.column(i), k))
    return out


def replicate(src: Path, dst: Path, day: str, copies: int) -> dict[str, int]:
    """DST's lake for DAY; returns the coin files written per asset."""
    written: dict[str, int] = {}
    for asset_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        part = asset_dir / f"date={day}"
        if not part.is_dir():
            continue
        out = dst / asset_dir.name / f"date={day}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        coin_dirs = sorted(p for p in part.iterdir() if p.name.startswith("coin="))
        if coin_dirs:
            for coin_dir in coin_dirs:
                coin = unquote(coin_dir.name[len("coin="):])
                table = pq.read_table(coin_dir / "part.parquet")
                meta = pq.ParquetFile(coin_dir / "part.parquet").metadata
                rows = meta.row_group(0).num_rows if meta.num_row_groups else 1024
                for k in range(copies):
                    target = out / f"coin={quote(copy_name(coin, k), safe='')}"
                    target.mkdir()
                    pq.write_table(replicate_table(table, coin, k), target / "part.parquet",
                                   row_group_size=max(1, rows))
                    written[asset_dir.name] = written.get(asset_dir.name, 0) + 1
            continue
        for f in part.iterdir():
            if asset_dir.name in COIN_LISTS and f.name == "part.parquet":
                table = pq.read_table(f)
                parts = []
                for k in range(copies):
                    coins = table.column("coin").to_pylist()
                    named = pa.array([None if c is None or c == "" else copy_name(c, k)
                                      for c in coins], table.schema.field("coin").type)
                    parts.append(table.set_column(table.column_names.index("coin"),
                                                  table.schema.field("coin"), named))
                merged = pa.concat_tables(parts)
                order = pc.sort_indices(merged, [(c, "ascending") for c in
                                                 ("channel", "coin") if c in merged.column_names]
                                        or [("coin", "ascending")])
                pq.write_table(merged.take(order), out / f.name)
            elif f.is_file():
                shutil.copy2(f, out / f.name)
    return written


_NAMED = re.compile(rb'("(?:coin|s)"\s*:\s*")([^"~]+)"')
"""A coin named in a frame: `"coin": "BTC"` (books, trades, bbo, contexts, subscriptions)
or a candle's `"s": "BTC"`; a name with `~` is a copy already."""


def replicate_feed(src: Path, dst: Path, day: str, copies: int) -> int:
    """DST's recording of DAY (and its manifest): each line that names a coin written
    `copies` times in a row, copy k with every coin it names renamed `copy_name(coin, k)`;
    the other lines once. Returns the lines written."""
    from lotus_core.feed.manifest import write_manifest

    dst.mkdir(parents=True, exist_ok=True)
    out_path = dst / f"{day}.jsonl.gz"
    lines = 0
    with gzip.open(src / f"{day}.jsonl.gz", "rb") as fin, \
            gzip.open(out_path, "wb", compresslevel=1) as fout:
        for line in fin:
            if _NAMED.search(line) is None:
                fout.write(line)
                lines += 1
                continue
            fout.write(line)
            for k in range(1, copies):
                fout.write(_NAMED.sub(lambda m, k=k: m.group(1) + copy_name(
                    m.group(2).decode(), k).encode() + b'"', line))
            lines += copies
    write_manifest(dst, [out_path])
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("day")
    ap.add_argument("--copies", type=int, default=33)
    ap.add_argument("--feed", type=Path, nargs=2, metavar=("SRC_FEED_DIR", "DST_FEED_DIR"),
                    help="also copy the day's recording (the DM, the Trader and raw_feed "
                    "read it)")
    args = ap.parse_args()
    print(replicate(args.src, args.dst, args.day, args.copies))
    if args.feed:
        print({"feed_lines": replicate_feed(*args.feed, args.day, args.copies)})


if __name__ == "__main__":
    main()
