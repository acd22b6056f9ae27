"""Batches are seq ranges: the work left after any mix of batch sizes covers every domain exactly once."""

import pytest

from campaigns.batches import job_key, remaining_ranges


def covered(ranges):
    return [seq for first, stop in ranges for seq in range(first, stop)]


def test_nothing_done_cuts_the_whole_range_by_the_size():
    assert remaining_ranges(total=25, size=10, done=[]) == [(0, 10), (10, 20), (20, 25)]


def test_ranges_done_at_another_size_are_not_redone_and_nothing_is_skipped():
    # Batches of 1,000: 0-8 done, 9 failed; the retry cuts by 2,000 (the example).
    done = [(n * 1000, (n + 1) * 1000) for n in range(9)]
    left = remaining_ranges(total=10_000, size=2000, done=done)
    assert left == [(9000, 10_000)]
    assert sorted(covered(done) + covered(left)) == list(range(10_000))


@pytest.mark.parametrize("size", [1, 3, 7, 10, 25, 100])
def test_holes_between_overlapping_done_ranges_are_filled_exactly_once(size):
    done = [(0, 10), (5, 12), (20, 30), (28, 35), (50, 60)]
    left = remaining_ranges(total=57, size=size, done=done)
    assert all(stop - first <= size for first, stop in left)
    assert sorted(set(covered(done)) | set(covered(left))) == list(range(60))
    assert not set(covered(done)) & set(covered(left))
    assert len(covered(left)) == len(set(covered(left)))


def test_the_key_names_the_range():
    assert (
        job_key(campaign_id="c", phase="dns_validation", first=9000, stop=10_000)
        == "campaign:c:dns_validation:9000-10000"
    )
