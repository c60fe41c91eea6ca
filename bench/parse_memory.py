"""Where the feed parse's memory goes: peak and resident RSS of one `parse_recording`.

    .venv/bin/python -m bench.parse_memory /work/scalework/c10/feed_10c_0-24/2026-01-02.jsonl.gz
    .venv/bin/python -m bench.parse_memory RECORDING --shards 6   # the coin-sharded parse

Prints the process's peak RSS during the parse (VmHWM, reset just before), its RSS after,
the parsed day's own bytes (book matrices, each table) and CPU (this process + the
extraction workers). docs/scale.md quotes it (before / after the memory changes of round 3).
With --shards N: `parse_shards` (feed.coin_shards = N), the peak over the whole parse and the
RSS as each shard is handed over (one held at a time, as raw_feed holds them).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(path: Path) -> None:
    from lotus_core.feed.parse import parse_recording

    base = _vm("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # restart the VmHWM peak
    wall0, cpu0 = time.perf_counter(), time.process_time()
    feed = parse_recording(path)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    books = feed.books
    matrices = sum(m.nbytes for m in (books.bid_px, books.bid_sz, books.ask_px, books.ask_sz))
    tables = {name: int(frame.memory_usage(deep=True).sum()) for name, frame in (
        ("books.meta", books.meta), ("trades", feed.trades), ("bbo", feed.bbo),
        ("ctx", feed.ctx), ("candles", feed.candles))}
    print(f"{path.name}: {len(books):,} books, {len(feed.trades):,} trades, "
          f"{len(feed.bbo):,} bbo | RSS before {base:,.0f} MB, peak {_vm('VmHWM'):,.0f} MB, "
          f"after {_vm('VmRSS'):,.0f} MB | the day's tables: book matrices "
          f"{matrices / 2**20:,.0f} MB, " + ", ".join(f"{k} {v / 2**20:,.0f} MB"
                                                      for k, v in tables.items())
          + f" | wall {wall:.1f} s, CPU {cpu:.1f} s + workers "
          f"{kids.ru_utime + kids.ru_stime:.1f} s")


def sharded(path: Path, n: int) -> None:
    from lotus_core.feed.shards import parse_shards

    base = _vm("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    held = []
    for shard in parse_shards(path, n, spill=Path(path).parent):
        held.append(f"{_vm('VmRSS'):,.0f}")
        del shard
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{path.name}, {n} shards: RSS before {base:,.0f} MB, peak {_vm('VmHWM'):,.0f} MB, "
          f"after {_vm('VmRSS'):,.0f} MB | RSS with each shard held: {', '.join(held)} MB | "
          f"wall {wall:.1f} s, CPU {cpu:.1f} s + workers {kids.ru_utime + kids.ru_stime:.1f} s")


if __name__ == "__main__":
    if "--shards" in sys.argv:
        sharded(Path(sys.argv[1]), int(sys.argv[sys.argv.index("--shards") + 1]))
    else:
        main(Path(sys.argv[1]))
