"""LineMask: the day's line verdict, a bit a line, equal to the bool array it packs.
SeenLines: whether lines were seen by an earlier shard, as the sets they stand for say."""

import numpy as np
import pytest

from lotus_core.feed.line_mask import LineMask, SeenLines


@pytest.mark.parametrize("seed", range(5))
def test_appended_in_any_chunks_reads_back_every_line(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keep = rng.random(int(rng.integers(1, 5_000))) < 0.7
    mask = LineMask()
    pos = 0
    while pos < len(keep):  # chunks of any length, 0 and non-multiples of 8 among them
        step = int(rng.integers(0, 40))
        mask.append(keep[pos:pos + step])
        pos += step
    assert mask.n == len(keep)
    lines = rng.integers(1, len(keep) + 1, size=1_000)
    assert mask.at(lines).tolist() == keep[lines - 1].tolist()
    assert mask.to_bools().tolist() == keep.tolist()
    assert mask.nbytes <= len(keep) // 8 + 1


def test_lines_outside_the_mask_are_an_error() -> None:
    mask = LineMask.of(np.array([True, False, True]))
    assert mask.at(np.array([3, 1, 2])).tolist() == [True, True, False]
    with pytest.raises(IndexError, match=r"outside 1\.\.3"):
        mask.at(np.array([4]))
    with pytest.raises(IndexError):
        mask.at(np.array([0]))
    assert LineMask().at(np.array([], dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("seed", range(5))
def test_seen_lines_answers_as_the_sets_of_earlier_shards_do(seed: int) -> None:
    """Shards of line numbers (unsorted, repeated within a shard, some shared with an
    earlier shard): `add` is True exactly when a line was in an earlier shard."""
    rng = np.random.default_rng(seed)
    seen, earlier = SeenLines(), set()
    answers = []
    for _ in range(30):
        lines = rng.integers(0, int(rng.integers(1, 3_000)), size=int(rng.integers(0, 200)))
        want = bool(set(lines.tolist()) & earlier)
        answers.append(want)
        assert seen.add(lines) is want
        earlier |= set(lines.tolist())
    assert any(answers) and not all(answers)  # both outcomes met
    assert seen.nbytes <= 2 * (max(earlier) // 8 + 1)


def test_seen_lines_refuses_a_negative_line() -> None:
    with pytest.raises(IndexError, match="negative"):
        SeenLines().add(np.array([3, -1]))
    assert SeenLines().add(np.array([], dtype=np.int64)) is False
