"""Partition keys as the lake stores them: a day, or a day and a coin."""

import dagster as dg


def day_and_coin(key: str | dg.MultiPartitionKey) -> tuple[str, str | None]:
    """(day, coin) of a partition key: a daily key has no coin; a day x coin key, given as
    a `MultiPartitionKey` or as its text `<coin>|<day>`, has both."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["date"], dims["coin"]
    if "|" in key:
        coin, day = key.split("|", 1)
        return day, coin
    return key, None
