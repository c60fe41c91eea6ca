"""The sealed seed plan (`validity_seeds.yaml`): tuning and evaluation seeds in
disjoint ranges, one range per table cell, so a sealed figure was never tuned on and no two
cells of a table share a draw. The loader refuses an overlap with the two cells named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel

Partition = Literal["tuning", "evaluation"]
PARTITIONS: tuple[Partition, ...] = ("tuning", "evaluation")


class SeedsError(ValueError):
    """The seeds file is malformed, overlaps itself, or a run asked for seeds it lacks."""


class Block(StrictModel):
    """One table's seeds: cell i owns [first + i * per_cell, first + (i + 1) * per_cell)."""

    first: int = Field(ge=0)
    per_cell: int = Field(ge=1)
    cells: list[str] = Field(min_length=1)

    @field_validator("cells")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dup = sorted({c for c in v if v.count(c) > 1})
        if dup:
            raise ValueError(f"cells listed twice: {dup}")
        return v


class SeedsFile(StrictModel):
    tuning: dict[str, Block]
    evaluation: dict[str, Block]
    spent: list[tuple[int, int]] = Field(default_factory=list)


@dataclass(frozen=True)
class SeedRange:
    """A cell's seeds: [first, end)."""

    name: str  # partition.section[cell]
    first: int
    end: int

    def overlaps(self, other: SeedRange) -> bool:
        return self.first < other.end and other.first < self.end


@dataclass(frozen=True)
class SeedPlan:
    """Every cell's range by (partition, section, cell)."""

    ranges: Mapping[tuple[str, str, str], SeedRange]
    where: str

    def seeds(self, partition: str, section: str, cell: str, n: int) -> list[int]:
        """The first `n` seeds of a cell; refused if the file does not declare it or it
        holds fewer than `n`."""
        r = self.ranges.get((partition, section, cell))
        if r is None:
            have = sorted(c for p, s, c in self.ranges if (p, s) == (partition, section))
            raise SeedsError(f"{self.where}: {partition}.{section} has no cell {cell!r} "
                             f"(cells: {have or 'none: no such section'})")
        if n > r.end - r.first:
            raise SeedsError(f"{self.where}: {r.name} holds {r.end - r.first} seeds, "
                             f"{n} asked for: widen per_cell or ask for fewer")
        return list(range(r.first, r.first + n))


def _expand(body: SeedsFile) -> dict[tuple[str, str, str], SeedRange]:
    out: dict[tuple[str, str, str], SeedRange] = {}
    for part in PARTITIONS:
        for section, b in getattr(body, part).items():
            for i, cell in enumerate(b.cells):
                lo = b.first + i * b.per_cell
                out[(part, section, cell)] = SeedRange(f"{part}.{section}[{cell}]", lo,
                                                       lo + b.per_cell)
    return out


def check_disjoint(ranges: Mapping[tuple[str, str, str], SeedRange],
                   spent: list[tuple[int, int]], where: str) -> None:
    """Every cell's range is disjoint from every other's, and no evaluation cell holds a
    spent seed; the first problem is raised naming both ranges."""
    rs = sorted(ranges.values(), key=lambda r: (r.first, r.end))
    for a, b in zip(rs, rs[1:], strict=False):
        if a.overlaps(b):
            raise SeedsError(f"{where}: {a.name} [{a.first}, {a.end}) overlaps {b.name} "
                             f"[{b.first}, {b.end}): every cell needs seeds of its own")
    for lo, hi in spent:
        s = SeedRange(f"spent[{lo}, {hi})", lo, hi)
        for r in rs:
            if r.name.startswith("evaluation.") and r.overlaps(s):
                raise SeedsError(f"{where}: {r.name} [{r.first}, {r.end}) holds seeds already "
                                 f"looked at ({s.name}): sealed seeds must be fresh")


def load_seeds(source: str | Path | Mapping[str, Any] | None = None) -> SeedPlan:
    """The seed plan from `source` (a YAML path or a mapping; default: the packaged
    validity_seeds.yaml), validated: known keys, unique cells, no two ranges overlapping."""
    try:
        raw, where = read_yaml(source, "validity_seeds.yaml", package="lotus_core.learning")
    except SpecError as exc:
        raise SeedsError(str(exc)) from None
    try:
        body = SeedsFile.model_validate(raw)
    except ValidationError as exc:
        raise SeedsError(error_message(where, exc)) from None
    for lo, hi in body.spent:
        if hi <= lo:
            raise SeedsError(f"{where}: spent [{lo}, {hi}) is empty")
    ranges = _expand(body)
    check_disjoint(ranges, body.spent, where)
    return SeedPlan(ranges, where)
