"""A process's memory as /proc reports it, and a measurement in a fresh interpreter: what
the memory benches print and how they run (one home)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def status_mb(field: str = "VmHWM", pid: str = "self") -> int:
    """MB of a /proc/<pid>/status field (VmHWM: the peak RSS; VmRSS: the current); 0 when
    the field is absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def fresh_json(code: str, *args: str, repo: Path = REPO) -> dict:
    """Run `code` (`python -c`) with `args` in a fresh interpreter at the root of `repo` (this
    checkout, or a worktree of an earlier commit for a "before" figure) and return the JSON
    object its last output line prints (its peak RSS is its own); a failure raises with the
    tail of its stderr."""
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=repo, capture_output=True,
                         text=True, check=False, env={**os.environ, "PYTHONPATH": str(repo)})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def base_worktree(rev: str) -> Path:
    """A git worktree of `rev` under /tmp (made once): the code a "before" figure runs."""
    path = Path(f"/tmp/lotus-bench-base-{rev}")
    if not (path / "lotus_core").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=REPO,
                       check=True, capture_output=True)
    return path


def drop_worktree(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, check=False,
                   capture_output=True)


def before_after(doc: str, results: Path, make_lake: Callable[[int], Path], days: list[str],
                 now: str, before: str, cases: list[tuple[dict, list[str]]], *,
                 default_base: str = "ac3dd21", default_before: str = "3,30") -> None:
    """The command line of a memory bench measured with this checkout's code (`now`) and,
    for the coin counts in --before, with an earlier commit's (`before`, run from a git
    worktree of --base): for each coin count, each case (its fields, its arguments between
    the lake and the days) in a fresh process, a row appended to `results`."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--coins", default="3,30,100")
    ap.add_argument("--before", default=default_before,
                    help="coin counts also measured with the --base code (every day whole)")
    ap.add_argument("--base", default=default_base)
    a = ap.parse_args()
    counts = {int(c) for c in a.before.split(",") if c}
    base = base_worktree(a.base) if counts else REPO
    try:
        for n in (int(c) for c in a.coins.split(",")):
            root = make_lake(n)
            for fields, args in cases:
                for how in ("now", "before") if n in counts else ("now",):
                    code, repo = (now, REPO) if how == "now" else (before, base)
                    measured_row(results, {"coins": n, "days": len(days), **fields, "how": how},
                                 lambda c=code, r=repo, x=args, lake=root: fresh_json(
                                     c, str(lake), *x, ",".join(days), repo=r))
    finally:
        if counts:
            drop_worktree(base)


def measured_row(results: Path, fields: dict, measure: Callable[[], dict]) -> dict:
    """`fields`, the 1-minute load average and the UTC time before the measurement, then
    what `measure()` returns: printed and appended to `results` (JSON lines)."""
    row = {**fields, "load_before": round(os.getloadavg()[0], 2),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    row.update(measure())
    print(json.dumps(row))
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row
