"""A process's memory as /proc reports it: what the memory benches print (one home)."""

from __future__ import annotations

from pathlib import Path


def status_mb(field: str = "VmHWM", pid: str = "self") -> int:
    """MB of a /proc/<pid>/status field (VmHWM: the peak RSS; VmRSS: the current); 0 when
    the field is absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0
