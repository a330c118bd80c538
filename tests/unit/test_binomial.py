"""Tier 0 tests of the binomial and multinomial kernels: limits, invariants, reference twin."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tetrasim.kernels import reference_random as ref
from tetrasim.kernels.binomial import (
    INVERSION_MAX_MEAN,
    binomial,
    multinomial_split,
    stirling_correction,
)
from tetrasim.kernels.philox import PURPOSE_LEAVE, PURPOSE_SPLIT, STREAM_WORDS, new_stream

# (n, p) covering inversion, BTRD (both the recursive and the squeeze/log branches),
# the symmetry p > 1/2 and the branch boundary n p = 10
GRID = [
    (1, 0.5),
    (3, 0.9),
    (17, 0.3),
    (100, 0.0999),
    (100, 0.1),
    (40, 0.5),
    (1000, 0.02),
    (1000, 0.97),
    (10**6, 1e-4),
    (10**6, 0.3),
    (10**9, 0.5),
    (2**40, 1e-6),
]


def _fresh(element, seed=11, step=2):
    return new_stream(seed, 0, step, element, PURPOSE_LEAVE)


@pytest.mark.parametrize("n", [0, -3])
def test_nonpositive_n_gives_zero(n):
    state = _fresh(0)
    assert binomial(n, 0.4, state) == 0
    assert int(state[5]) == 0  # no draw consumed


@pytest.mark.parametrize("p", [0.0, -0.5, float("nan")])
def test_p_zero_or_invalid_gives_zero(p):
    assert binomial(50, p, _fresh(0)) == 0
    assert ref.binomial(50, p, _fresh(0)) == 0


@pytest.mark.parametrize("p", [1.0, 1.5])
def test_p_one_gives_n(p):
    state = _fresh(0)
    assert binomial(12345, p, state) == 12345
    assert int(state[5]) == 0


def test_stirling_correction_matches_lgamma():
    for k in list(range(40)) + [100, 10**4, 10**8]:
        exact = math.lgamma(k + 1.0) - (k + 0.5) * math.log(k + 1.0) + (k + 1.0) - 0.5 * math.log(2 * math.pi)
        tolerance = 1e-14 * max(1.0, math.lgamma(k + 1.0))  # lgamma's own rounding dominates
        assert abs(stirling_correction(k) - exact) <= tolerance
        assert stirling_correction(k) == ref.stirling_correction(k)


@pytest.mark.parametrize(("n", "p"), GRID)
def test_kernel_equals_reference_bit_for_bit(n, p):
    """Same stream -> same variates and same stream position, for 200 elements."""
    for element in range(200):
        state = _fresh(element)
        twin = state.copy()
        first = binomial(n, p, state)
        second = binomial(n, p, state)
        assert (first, second) == (ref.binomial(n, p, twin), ref.binomial(n, p, twin))
        assert np.array_equal(state, twin)
        assert 0 <= first <= n


def test_draws_are_deterministic_and_keyed():
    draws = [binomial(1000, 0.3, _fresh(e)) for e in range(50)]
    assert draws == [binomial(1000, 0.3, _fresh(e)) for e in range(50)]
    assert draws != [binomial(1000, 0.3, _fresh(e, seed=12)) for e in range(50)]
    assert draws != [binomial(1000, 0.3, _fresh(e, step=3)) for e in range(50)]


def test_branch_threshold():
    assert INVERSION_MAX_MEAN == 10.0


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 10**7),
    p=st.floats(0.0, 1.0, allow_nan=False),
    element=st.integers(0, 2**32),
)
def test_binomial_within_support_and_equals_reference(n, p, element):
    state = _fresh(element)
    twin = state.copy()
    value = binomial(n, p, state)
    assert 0 <= value <= n
    assert value == ref.binomial(n, p, twin)


weights_strategy = st.lists(
    st.one_of(st.just(0.0), st.floats(1e-6, 1e6, allow_nan=False)), min_size=1, max_size=8
)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 10**6), weights=weights_strategy, element=st.integers(0, 10**6))
def test_multinomial_split_conserves_and_equals_reference(total, weights, element):
    weights = np.array(weights)
    state = new_stream(3, 0, 1, element, PURPOSE_SPLIT)
    twin = state.copy()
    out = np.full(8, -1, dtype=np.int64)
    out_twin = out.copy()
    unplaced = multinomial_split(total, weights, state, out)
    assert unplaced == ref.multinomial_split(total, weights, twin, out_twin)
    assert np.array_equal(out, out_twin)
    assert np.array_equal(state, twin)
    placed = out[: len(weights)]
    assert (placed >= 0).all()
    assert (placed[weights <= 0] == 0).all()
    assert (out[len(weights) :] == -1).all()  # untouched beyond len(weights)
    if (weights > 0).any():
        assert unplaced == 0
        assert placed.sum() == total
    else:
        assert unplaced == max(total, 0)


@pytest.mark.parametrize("total", [1, 10, 11, 5000])
def test_multinomial_single_positive_weight_takes_all(total):
    out = np.zeros(4, dtype=np.int64)
    state = new_stream(1, 0, 0, 0, PURPOSE_SPLIT)
    assert multinomial_split(total, np.array([0.0, 0.0, 2.5, 0.0]), state, out) == 0
    assert out.tolist() == [0, 0, total, 0]


def test_stream_state_shape():
    assert new_stream().shape == (STREAM_WORDS,)
