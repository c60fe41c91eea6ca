"""Same chain, same bytes: a small generated market through every asset, each lake
partition's sha256 saved before a change and compared after it, so a speed-up is shown not
to move a byte of any stage's output (the rule for compiled kernels: docs/structure.md).

    python -m bench lake_identical save  [--days 2] [--hours 6-9]   # before the change
    python -m bench lake_identical check [--days 2] [--hours 6-9]   # after it

The market: `lotus_core.synth`'s default spec, BTC and ETH, seed 424242, built and
materialised day by day by `bench.closed_loop.built_market` (every asset, in process).
`raw_feed` keeps the recording's absolute path (`source`); it is hashed with those paths
cut to file names, so two work directories compare. ~1 CPU minute at the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "lake_identical"  # as the other benches: from any cwd


def digest(path: Path) -> str:
    """sha256 of a partition file; raw_feed's `source` paths cut to their file names."""
    if path.parts[-3] != "raw_feed":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "source" in table.column_names:
        names = [[s.rsplit("/", 1)[-1] for s in row] if isinstance(row, list)
                 else row.rsplit("/", 1)[-1] if isinstance(row, str) else row
                 for row in table["source"].to_pylist()]
        table = table.set_column(table.column_names.index("source"), "source",
                                 pa.array(names))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def partition_hashes(days: int, hours: tuple[int, int]) -> dict[str, str]:
    """{partition path in the lake: digest} of the market materialised in a scratch dir."""
    from bench.closed_loop import Size, built_market
    from lotus_core.synth import default_spec

    size = Size(days=days, hours=hours, coins=("BTC", "ETH"))
    with tempfile.TemporaryDirectory(prefix="lotus-identical.") as tmp, \
            built_market(Path(tmp), default_spec(), 424242, size, selection=None) as (s, _):
        lake = Path(s.lake_dir)
        return {str(p.relative_to(lake)): digest(p) for p in sorted(lake.rglob("*.parquet"))}


def differing(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The partitions whose bytes moved, or that one side lacks, named."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["save", "check"])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--hours", default="6-9", help="UTC hours of each day, e.g. 6-9")
    args = ap.parse_args(argv)
    h0, h1 = (int(x) for x in args.hours.split("-"))
    path = OUT / f"{args.days}d_{h0}-{h1}.json"
    hashes = partition_hashes(args.days, (h0, h1))
    if args.action == "save":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(hashes, indent=1))
        print(f"saved {len(hashes)} partitions' hashes to {path}")
        return 0
    if not path.exists():
        print(f"nothing saved at {path}: run `save` before the change", file=sys.stderr)
        return 2
    moved = differing(json.loads(path.read_text()), hashes)
    print(f"{len(hashes) - len(moved)} of {len(hashes)} partitions identical"
          + (": " + ", ".join(moved) if moved else ""))
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
