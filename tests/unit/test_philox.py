"""Tier 0 tests of the Philox kernels: known answers, numpy's Philox, the reference twin."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tetrasim.kernels import philox
from tetrasim.kernels import reference_random as ref

U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)

# Random123 known-answer vectors (kat_vectors, Salmon et al. 2011): counter, key, output
KAT_4X32 = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
KAT_4X64 = [
    ((0, 0, 0, 0), (0, 0), (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)),
]


def _words_to_int(words):
    return sum(int(word) << (64 * i) for i, word in enumerate(words))


def _int_to_words(value):
    return tuple((value >> (64 * i)) & (2**64 - 1) for i in range(4))


@pytest.mark.parametrize(("counter", "key", "expected"), KAT_4X32)
def test_philox4x32_known_answers(counter, key, expected):
    words = [np.uint64(w) for w in counter + key]
    assert tuple(int(w) for w in philox.philox4x32_10(*words)) == expected
    assert ref.philox4x32_10(*counter, *key) == expected


@pytest.mark.parametrize(("counter", "key", "expected"), KAT_4X64)
def test_philox4x64_known_answers(counter, key, expected):
    words = [np.uint64(w) for w in counter + key]
    assert tuple(int(w) for w in philox.philox4x64_10(*words)) == expected
    assert ref.philox4x64_10(*counter, *key) == expected


@pytest.mark.parametrize(
    ("counter", "key"),
    [
        (0, 0),
        (12345, 2**64 + 99),
        (2**64 - 2, 5),  # carry from word 0 into word 1 inside numpy's increment
        (2**128 - 1, 2**128 - 1),
        (2**256 - 3, 0xDEADBEEF),  # wraps around 2**256
        (0x0123456789ABCDEF_FEDCBA9876543210_0F1E2D3C4B5A6978_8796A5B4C3D2E1F0, 2**100 + 7),
    ],
)
def test_philox4x64_matches_numpy_raw_output(counter, key):
    """numpy's Philox is Philox4x64-10; it adds 1 to the 256-bit counter before each block."""
    raw = np.random.Philox(counter=counter, key=key).random_raw(12)
    key_words = (key & (2**64 - 1), key >> 64)
    for block in range(3):
        words = _int_to_words((counter + 1 + block) % 2**256)
        ours = philox.philox4x64_10(*(np.uint64(w) for w in words + key_words))
        assert [int(w) for w in ours] == [int(w) for w in raw[4 * block : 4 * block + 4]]


def test_stream_equals_numpy_generator_random():
    """A keyed stream is numpy's Generator(Philox).random() started one counter earlier."""
    seed, run, step, element, purpose = 2**63 + 11, 3, 10**9, 123456, philox.PURPOSE_SPLIT
    first_counter = _words_to_int((0, element, step, purpose))
    generator = np.random.Generator(np.random.Philox(counter=first_counter - 1, key=seed + (run << 64)))
    expected = generator.random(23)
    state = philox.new_stream(seed, run, step, element, purpose)
    ours = np.array([philox.stream_uniform01(state) for _ in range(23)])
    assert np.array_equal(ours, expected)


def test_keyed_index_matches_stream_and_blocks():
    seed, run, step, element, purpose = 7, 1, 42, 99, philox.PURPOSE_LEAVE
    state = philox.new_stream(seed, run, step, element, purpose)
    for index in range(13):
        value = philox.uniform01(seed, run, step, element, purpose, index)
        assert value == philox.stream_uniform01(state)
        assert value == philox.uniform01x4(seed, run, step, element, purpose, index // 4)[index % 4]
        assert value == ref.uniform01(seed, run, step, element, purpose, index)
    assert int(state[5]) == 4  # blocks consumed: ceil(13 / 4)


def test_stream_init_resets_state():
    state = philox.new_stream(1, 2, 3, 4, 5)
    first = [philox.stream_uniform01(state) for _ in range(6)]
    philox.stream_init(state, 1, 2, 3, 4, 5)
    assert [philox.stream_uniform01(state) for _ in range(6)] == first
    twin = np.zeros(philox.STREAM_WORDS, dtype=np.uint64)
    ref.stream_init(twin, 1, 2, 3, 4, 5)
    assert [ref.stream_uniform01(twin) for _ in range(6)] == first
    assert np.array_equal(twin, state)


def test_every_key_and_counter_word_changes_the_draw():
    base = (5, 6, 7, 8, philox.PURPOSE_ROUND, 0)
    value = philox.uniform01(*base)
    for position in range(6):
        changed = list(base)
        changed[position] += 1
        assert philox.uniform01(*changed) != value


def test_uniform_range_limits():
    assert philox.word_to_uniform01(np.uint64(0)) == 0.0
    largest = philox.word_to_uniform01(np.uint64(2**64 - 1))
    assert largest < 1.0
    assert largest == 1.0 - 2.0**-53
    assert ref.word_to_uniform01(2**64 - 1) == largest


def test_purpose_word_layout():
    assert int(philox.purpose_word(philox.PURPOSE_SPLIT, 0)) == 2
    assert int(philox.purpose_word(philox.PURPOSE_SSA, 5)) == 3 + 5 * 256
    assert ref.purpose_word(philox.PURPOSE_SSA, 5) == 3 + 5 * 256


def test_new_stream_rejects_out_of_range():
    with pytest.raises(ValueError, match="seed"):
        philox.new_stream(seed=-1)
    with pytest.raises(ValueError, match="element"):
        philox.new_stream(element=2**64)


@settings(max_examples=200, deadline=None)
@given(U32, U32, U32, U32, U32, U32)
def test_philox4x32_kernel_equals_reference(c0, c1, c2, c3, k0, k1):
    ours = philox.philox4x32_10(c0, c1, c2, c3, k0, k1)
    assert tuple(int(w) for w in ours) == ref.philox4x32_10(c0, c1, c2, c3, k0, k1)


@settings(max_examples=200, deadline=None)
@given(U64, U64, U64, U64, U64, U64)
def test_philox4x64_kernel_equals_reference(c0, c1, c2, c3, k0, k1):
    words = [np.uint64(v) for v in (c0, c1, c2, c3, k0, k1)]
    ours = philox.philox4x64_10(*words)
    assert tuple(int(w) for w in ours) == ref.philox4x64_10(c0, c1, c2, c3, k0, k1)


@settings(max_examples=200, deadline=None)
@given(U64, U64)
def test_mulhilo64_is_the_128_bit_product(a, b):
    high, low = philox.mulhilo64(np.uint64(a), np.uint64(b))
    assert (int(high) << 64) + int(low) == a * b
    # the portable version the GPU build compiles gives the same halves
    assert _PORTABLE_MULHILO(np.uint64(a), np.uint64(b)) == (high, low)


_PORTABLE_MULHILO = numba.njit(philox._mulhilo64_py)


def test_device_sources_run_in_the_cuda_simulator():
    """The lazily built cuda.jit(device=True) versions give the njit numbers (CUDA simulator).

    numba's CUDA simulator runs the Python sources with NumPy scalars, so this checks the
    re-binding of the device functions and the scalar arithmetic, not the PTX compilation.
    """
    script = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("ignore")
        import numpy as np
        from numba import cuda
        from tetrasim.kernels import philox, binomial
        device = binomial.make_cuda_device_functions()
        assert isinstance(philox.make_cuda_device_functions().philox4x64_10, type(device.binomial))
        init, draw, uniform = device.stream_init, device.binomial, device.uniform01

        @cuda.jit
        def kernel(counts, uniforms):
            i = cuda.grid(1)
            if i < counts.shape[0]:
                state = cuda.local.array(12, np.uint64)
                init(state, 7, 1, 3, i, 1)
                counts[i] = draw(1000, 0.3, state) + draw(20, 0.2, state)
                uniforms[i] = uniform(7, 1, 3, i, 1, 5)

        counts = np.zeros(40, np.int64)
        uniforms = np.zeros(40)
        kernel[2, 20](counts, uniforms)
        for i in range(40):
            state = philox.new_stream(7, 1, 3, i, 1)
            expected = binomial.binomial(1000, 0.3, state) + binomial.binomial(20, 0.2, state)
            assert counts[i] == expected, (i, counts[i], expected)
            assert uniforms[i] == philox.uniform01(7, 1, 3, i, 1, 5)
        print("ok")
        """
    )
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_module_import_does_not_import_cuda():
    script = "import sys, tetrasim.kernels.binomial; print('numba.cuda' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "False"
