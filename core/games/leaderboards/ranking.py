"""The order of a board and the counted tree that ranks a member without counting them all.

Rank key
    A 63-bit integer, smaller is ahead: the high 31 bits are `SCORE_MAX - score` (a higher
    score is ahead), the low 32 bits the time the score was reached, in units from the
    board's start (earlier is ahead; a unit is a millisecond for boards up to 49 days).
    Equal keys (the same score in the same millisecond) fall back to the member id.

Counted tree
    `board_nodes` holds, for each level L in 4..15, how many scores have
    `rank_key >> (4 L) == bucket`. The scores ahead of key K are, summed over the levels,
    the counts of K's siblings at that level (the same parent, a smaller digit): each score
    ahead is counted once, at the first 4-bit digit where its key differs from K. That is at
    most 15 rows per level, 180 in all, read in one statement through the primary key. The
    scores that share K's top 47 bits (the same score, reached within the same ~65 s) are
    counted from `board_scores` itself, over its (board, rank_key) index: a handful, however
    many members there are. Levels 0..3 would hold one node per score each and save nothing.
    So the cost of a rank depends on the tree's height (fixed), not on how many are ahead: a
    member's rank costs the same among a million members as among ten thousand. A COUNT over
    the (board, rank_key) index alone would read every score ahead: O(rank).

    A change of score moves the member's key: -1 on the old key's path, +1 on the new one's,
    where the two differ (the levels above where they part are untouched, so the top of the
    tree, which every member shares, is written only when a score crosses a wide boundary).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

LEVELS = 16
BITS = 4
# The lowest level kept as nodes; below it, scores are counted from board_scores directly.
FIRST_LEVEL = 4
LOW_BITS = BITS * FIRST_LEVEL
FANOUT = 1 << BITS
SCORE_BITS = 31
TIME_BITS = 32
SCORE_MAX = (1 << SCORE_BITS) - 1
TIME_MAX = (1 << TIME_BITS) - 1


def clamp_score(score: int) -> int:
    return max(0, min(SCORE_MAX, score))


def time_unit(starts_at: datetime, ends_at: datetime) -> timedelta:
    """A millisecond, or longer for a board whose period would not fit 32 bits of them."""
    milliseconds = max(1, int((ends_at - starts_at) / timedelta(milliseconds=1)))
    return timedelta(milliseconds=max(1, -(-milliseconds // (TIME_MAX + 1))))


def rank_key(score: int, reached_at: datetime, starts_at: datetime, ends_at: datetime) -> int:
    offset = int((reached_at - starts_at) / time_unit(starts_at, ends_at))
    offset = max(0, min(TIME_MAX, offset))
    return ((SCORE_MAX - clamp_score(score)) << TIME_BITS) | offset


def path(key: int) -> Iterator[tuple[int, int]]:
    """(level, bucket) of every node counting `key`."""
    for level in range(FIRST_LEVEL, LEVELS):
        yield level, key >> (BITS * level)


def siblings_ahead(key: int) -> Iterator[tuple[int, int, int]]:
    """(level, first bucket, last bucket) of the nodes whose counts are the keys below `key`
    but for those in `low_block(key)`."""
    for level in range(FIRST_LEVEL, LEVELS):
        bucket = key >> (BITS * level)
        first = (bucket >> BITS) << BITS
        if bucket > first:
            yield level, first, bucket - 1


def low_block(key: int) -> tuple[int, int]:
    """The keys below `key` no node counts (first, last): those that differ from it only in
    the lowest LOW_BITS bits, to be counted from the scores themselves."""
    return (key >> LOW_BITS) << LOW_BITS, key - 1


def moves(old: int | None, new: int | None) -> dict[tuple[int, int], int]:
    """The count changes of the nodes when a key goes from `old` to `new` (None: absent)."""
    changes: dict[tuple[int, int], int] = {}
    if old is not None:
        for node in path(old):
            changes[node] = changes.get(node, 0) - 1
    if new is not None:
        for node in path(new):
            changes[node] = changes.get(node, 0) + 1
    return {node: change for node, change in changes.items() if change}
