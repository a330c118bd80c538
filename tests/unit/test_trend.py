"""The ordered-trend test: Jonckheere–Terpstra with a permutation p-value.

Thresholds from a false-alarm budget of 1e-4 per check (DESIGN.md §7), fixed seeds.
"""

import numpy as np
import pytest
from scipy.stats import binom, mannwhitneyu, norm

from tetrasim.trend import jonckheere_terpstra

ALPHA_TEST = 1e-4


def test_two_groups_are_the_one_sided_mann_whitney_test():
    rng = np.random.default_rng(4)
    for shift in (0.0, 0.7, 1.5):
        a, b = rng.normal(size=7), rng.normal(shift, size=9)
        statistic, p = jonckheere_terpstra([a, b], permutations=20_000, seed=1)
        exact = mannwhitneyu(b, a, alternative="greater", method="exact")
        assert statistic == exact.statistic
        # Monte Carlo error of a permutation p-value from 20,000 draws
        tolerance = norm.isf(ALPHA_TEST / 6) * np.sqrt(exact.pvalue * (1 - exact.pvalue) / 20_000) + 1e-4
        assert p == pytest.approx(exact.pvalue, abs=tolerance)


def test_statistic_counts_ordered_pairs_with_half_ties():
    assert jonckheere_terpstra([[1, 2], [3, 4], [5, 6]], permutations=10)[0] == 12.0
    assert jonckheere_terpstra([[1], [1], [2]], permutations=10)[0] == 0.5 + 1 + 1
    assert jonckheere_terpstra([[5, 6], [3, 4], [1, 2]], alternative="decreasing", permutations=10)[0] == 12.0


def test_p_values_are_calibrated_under_the_null():
    """Three groups of 20 from one distribution (continuous, and 0/1 with many ties): the test rejects
    at 5 % in 5 % of 400 draws, within the binomial bounds."""
    rng = np.random.default_rng(7)
    for draw in (lambda: rng.normal(size=20), lambda: (rng.random(20) < 0.3).astype(float)):
        pvalues = np.array([jonckheere_terpstra([draw(), draw(), draw()], permutations=999, seed=i)[1]
                            for i in range(400)])
        rejected = int(np.count_nonzero(pvalues <= 0.05))
        low, high = binom.ppf(ALPHA_TEST / 2, 400, 0.05), binom.isf(ALPHA_TEST / 2, 400, 0.05)
        assert low <= rejected <= high, rejected


def test_a_real_trend_is_found_in_its_direction_only():
    rising = [np.zeros(20), np.r_[np.zeros(14), np.ones(6)], np.r_[np.zeros(8), np.ones(12)]]
    assert jonckheere_terpstra(rising)[1] < 0.01
    assert jonckheere_terpstra(rising, alternative="decreasing")[1] > 0.9


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="two groups"):
        jonckheere_terpstra([[1, 2]])
    with pytest.raises(ValueError, match="NaN"):
        jonckheere_terpstra([[1, np.nan], [2]])
    with pytest.raises(ValueError, match="alternative"):
        jonckheere_terpstra([[1], [2]], alternative="up")
    assert jonckheere_terpstra([[], [1, 2], []])[1] == 1.0
