"""`make bench`: the quick set of benchmarks, one after another (`python -m bench quick`)."""

from __future__ import annotations

import sys

from bench.__main__ import quick


def main() -> None:
    sys.exit(quick(sys.argv[1:]))


if __name__ == "__main__":
    main()
