"""The command-line options every sealed-seed bench shares: which seeds (`--final`: the
sealed evaluation cell of validity_seeds.yaml, else the tuning cell), how many processes and
where they work, where the rows are kept and whether BENCHMARKS.md is written from them."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_sealed_options(ap: argparse.ArgumentParser, section: str, cell: str, seeds: int,
                       jobs: str) -> None:
    """`--final`, `--seeds`, `--workers`, `--workdir`, `--json`, `--write`, `--from-json`
    for a bench whose seeds are validity_seeds.yaml's `section`.`cell` and whose BENCHMARKS.md
    section is named after it; `jobs`: what one worker process runs."""
    ap.add_argument("--final", action="store_true",
                    help=f"the sealed evaluation seeds (validity_seeds.yaml evaluation."
                    f"{section}, cell {cell})")
    ap.add_argument("--seeds", type=int, default=seeds, help="how many: the cell's first n")
    ap.add_argument("--workers", type=int, default=1,
                    help=f"how many {jobs} run at once, each in a spawned process of its own")
    ap.add_argument("--workdir", default=None, help="where their files are made")
    ap.add_argument("--json", type=Path, default=None, help="keep the rows here")
    ap.add_argument("--write", action="store_true",
                    help="with --final: its BENCHMARKS.md section and the headline")
    ap.add_argument("--from-json", type=Path, default=None, metavar="PATH",
                    help="no run: print the tables of rows kept by --json (with --write, "
                    "the BENCHMARKS.md section and the headline from them)")


def refuse_unsealed_write(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`--write` records sealed evidence: a run on tuning seeds is refused up front (kept
    rows are checked when read)."""
    if args.write and not (args.final or args.from_json):
        ap.error("--write records sealed evidence: only with --final")
