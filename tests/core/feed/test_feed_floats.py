"""A few plain decimals are parsed by Python's `float`, anything else by Arrow: the same
bits and the same ok flags either way (both round correctly to the nearest float64)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lotus_core.feed import extract as ex

EDGES = ["0", "-0", "0.0", "-0.0", "1", "007.50", "102755.0", "0.00001234", "1e5", "1E-7",
         "-3.5e+2", "1e308", "1e400", "1e-400", "2.2250738585072011e-308",
         "0.1000000000000000055511151231257827", "9007199254740993", "123456789012345678901",
         "4.35", "0.3", "99999.99999999999"]
ODD = ["nan", "inf", "-inf", "1_000", " 1", "1 ", "+1", ".5", "1.", "abc", "", "0x10", "1e",
       "--1", "١٢"]


def _arrow(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The Arrow path, forced (a list longer than the per-value path takes)."""
    pad = values + ["0"] * (ex._FEW + 1)
    got, ok = ex.floats(pad)
    return got[:len(values)], ok[:len(values)]


def _random_decimal(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 22)))
    s = ("-" if rng.random() < 0.3 else "") + digits
    if rng.random() < 0.7:
        s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
    if rng.random() < 0.2:
        s += rng.choice("eE") + rng.choice(["", "-", "+"]) + str(rng.randint(0, 330))
    return s


@pytest.mark.parametrize("seed", range(5))
def test_few_values_parse_to_the_bits_arrow_gives(seed):
    rng = random.Random(seed)
    values = EDGES + [_random_decimal(rng) for _ in range(3000)]
    for k in range(0, len(values), ex._FEW):
        part = values[k:k + ex._FEW]
        few, few_ok = ex.floats(part)
        many, many_ok = _arrow(part)
        assert np.array_equal(few.view(np.int64), many.view(np.int64)), part
        assert np.array_equal(few_ok, many_ok)


@pytest.mark.parametrize("odd", ODD)
def test_anything_but_a_plain_decimal_goes_the_arrow_way(odd):
    few, few_ok = ex.floats(["1.5", odd])
    many, many_ok = _arrow(["1.5", odd])
    assert np.array_equal(few_ok, many_ok)
    assert np.array_equal(few, many, equal_nan=True)


def test_the_comparison_sees_a_wrong_parse():
    """The bit comparison above fails for a value one ulp off."""
    few, _ = ex.floats(["0.1"])
    off = np.nextafter(few, 1.0)
    assert not np.array_equal(few.view(np.int64), off.view(np.int64))


def test_a_few_books_are_padded_as_the_vectorised_scatter_pads_them():
    """`book_matrices` copies a few frames' levels by slices and scatters many at once: the
    same NaN-padded matrices either way, for frames of 0..MAX_LEVELS bids and asks."""
    rng = random.Random(5)
    for _ in range(200):
        n = rng.randint(1, ex._FEW_BOOKS)
        nb = [rng.choice([0, 1, 5, rng.randint(0, ex.MAX_LEVELS), ex.MAX_LEVELS])
              for _ in range(n)]
        na = [rng.randint(0, ex.MAX_LEVELS) for _ in range(n)]
        total = sum(nb) + sum(na)
        table = {"nb": np.array(nb, dtype=np.int16), "na": np.array(na, dtype=np.int16),
                 "px": np.array([rng.random() * 1e5 for _ in range(total)]),
                 "sz": np.array([rng.random() for _ in range(total)])}
        many = {k: np.concatenate([v] * (ex._FEW_BOOKS + 1)) for k, v in table.items()}
        few = ex.book_matrices(table)
        scattered = [m[:n] for m in ex.book_matrices(many)]  # the vectorised path, forced
        for a, b in zip(few, scattered, strict=True):
            assert a.shape == b.shape == (n, ex.MAX_LEVELS)
            np.testing.assert_array_equal(a, b)


def test_codes_by_distinct_values_equal_codes_one_by_one():
    """`_Codes.encode` codes each distinct value once: the same codes and names, in the
    same first-seen order, as coding value by value, for every JSON type a coin field can
    hold (1, 1.0 and True are equal keys; "" and non-strings are -1; unhashable and str
    subclasses take the value-by-value path), across calls sharing one table."""
    import random

    import numpy as np

    from lotus_core.feed.extract import _Codes

    class Name(str):
        pass

    rng = random.Random(3)
    pool = ["BTC", "ETH", "", "SOL", 1, 1.0, True, False, 0, None, float("nan"), "@107"]
    for trial in range(200):
        a, b = _Codes(), _Codes()
        for _ in range(3):
            values = tuple(rng.choice(pool) for _ in range(rng.randint(0, 40)))
            if trial % 10 == 0:
                values += ([1],) if trial % 20 == 0 else (Name("BTC"),)
            assert np.array_equal(a.encode(values), b._encode_each(values))
            assert a.names == b.names and a.codes == b.codes
