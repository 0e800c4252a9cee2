import numpy as np

from bds.sweep import Peak, clip, distinct_active, merge_per_key, peak_concurrency, peak_distinct


def test_peak_counts_overlaps_at_one_second_precision():
    # [0,10) and [5,15) overlap in seconds 5..9; [10,20) overlaps [5,15) in 10..14.
    assert peak_concurrency([0, 5, 10], [10, 15, 20]) == Peak(2, 5)


def test_touching_intervals_do_not_overlap():
    assert peak_concurrency([0, 10, 20], [10, 20, 30]) == Peak(1, 0)


def test_three_overlapping_and_empty_intervals():
    # [3,3) is empty and must not count; at second 4 three intervals are active.
    assert peak_concurrency([0, 2, 4, 3], [5, 6, 7, 3]) == Peak(3, 4)


def test_no_intervals():
    assert peak_concurrency([], []) == Peak(0, None)


def test_merge_per_key_unions_overlapping_and_touching_intervals():
    merged = merge_per_key(["a", "a", "a", "b"], [0, 5, 20, 8], [10, 20, 25, 9])
    assert merged.to_dict("records") == [
        {"key": "a", "start": 0, "end": 25},
        {"key": "b", "start": 8, "end": 9},
    ]


def test_agent_logged_in_twice_counts_once():
    # Agent 7 on two overlapping sessions (voice DN and a second place); agent 8 overlaps both.
    peak = peak_distinct([7, 7, 8], [100, 150, 160], [200, 300, 170])
    assert peak == Peak(2, 160)
    # Counted as sessions, the same rows would peak at 3.
    assert peak_concurrency([100, 150, 160], [200, 300, 170]).count == 3


def test_distinct_active_ignores_empty_intervals():
    assert distinct_active([1, 1, 2, 3], [0, 5, 7, 9], [4, 6, 7, 10]) == 2


def test_clip_to_window():
    starts, ends, keep = clip(np.array([-5, 10, 50, 95]), np.array([5, 20, 60, 130]), 0, 100)
    assert starts.tolist() == [0, 10, 50, 95]
    assert ends.tolist() == [5, 20, 60, 100]
    assert keep.tolist() == [True, True, True, True]
    _, _, keep = clip(np.array([-10, 100]), np.array([0, 110]), 0, 100)
    assert keep.tolist() == [False, False]


def test_peak_and_its_first_second_match_counting_every_second():
    """Against a count of the intervals active in each second, on many random small cases
    with ties, touching and empty intervals."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        starts = rng.integers(0, 40, n)
        ends = starts + rng.integers(-2, 12, n)  # some empty or reversed
        active = [int(((starts <= t) & (t < ends)).sum()) for t in range(60)]
        peak = peak_concurrency(starts, ends)
        assert peak.count == max(active)
        assert peak.at == (active.index(max(active)) if max(active) else None)
