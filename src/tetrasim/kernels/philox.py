"""Counter-based Philox generators and the keyed uniform streams of ``opsplit``.

Philox (Salmon, Moraes, Dror and Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3",
SC'11) maps a (counter, key) pair to a pseudo-random block through ten rounds of a
multiply-high/xor bijection.  Because a draw is a pure function of its counter and key, any
element on any rank or device can draw its own numbers without a shared state, and serial,
MPI and GPU runs see the same numbers (docs/rng.md).

Two variants are implemented with the same structure:

* ``philox4x64_10``: four 64-bit words, two 64-bit keys.  Bit-for-bit identical to
  ``numpy.random.Philox`` (see ``docs/rng.md`` for numpy's counter convention).  **This is
  the variant the solver uses**: it is faster per double on the CPU (one 64-bit word gives
  one 53-bit double) and its 256-bit counter and 128-bit key hold (seed, run, step,
  element, purpose, block) without packing.
* ``philox4x32_10``: four 32-bit words, two 32-bit keys, the Random123 reference variant
  (checked against its known-answer vectors).

Every function here is written as a plain Python function on integer scalars (uint64
arithmetic only; 64 x 64 -> 128-bit products are assembled from 32-bit halves) or on a
small ``uint64`` state array, and then compiled with ``numba.njit(cache=True)``.  The same
sources compile for the GPU through :func:`make_cuda_device_functions`, which imports
``numba.cuda`` only when called.

Keyed layout (Philox4x64-10)::

    key     = (seed, run)
    counter = (block, element, step, purpose)     # word 0 first, block = index // 4
    uniform = (word >> 11) * 2**-53               # word = block output [index % 4]

The stream state array (``STREAM_WORDS`` uint64 words) holds
``[seed, run, element, step, purpose, next_block, position, 0, buffer0..buffer3]``.
"""

import types

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

__all__ = [
    "PURPOSE_ROUND",
    "PURPOSE_LEAVE",
    "PURPOSE_SPLIT",
    "PURPOSE_SSA",
    "STREAM_WORDS",
    "philox4x32_10",
    "philox4x64_10",
    "mulhilo64",
    "word_to_uniform01",
    "purpose_word",
    "uniform01",
    "uniform01x4",
    "stream_init",
    "stream_next_uint64",
    "stream_uniform01",
    "new_stream",
    "make_cuda_device_functions",
]

#: Purpose codes: the fourth counter word, so that each use of randomness in a step
#: (stochastic rounding, leaving count, face split, reaction SSA) has its own stream.
PURPOSE_ROUND = 0
PURPOSE_LEAVE = 1
PURPOSE_SPLIT = 2
PURPOSE_SSA = 3

#: Length of a stream state array (uint64 words).
STREAM_WORDS = 12

# stream state layout (indices into the uint64 state array)
_SEED = 0
_RUN = 1
_ELEMENT = 2
_STEP = 3
_PURPOSE = 4
_NEXT_BLOCK = 5
_POSITION = 6
_BUFFER = 8
_BLOCK_WORDS = 4

# All constants are uint64 so that numba never mixes signed and unsigned 64-bit integers
# (which it would promote to float64).
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_SHIFT11 = np.uint64(11)
_ONE = np.uint64(1)
_EMPTY = np.uint64(_BLOCK_WORDS)

# Philox4x32 multipliers and Weyl key increments (Salmon et al. 2011, Random123)
_M4X32_0 = np.uint64(0xD2511F53)
_M4X32_1 = np.uint64(0xCD9E8D57)
_W32_0 = np.uint64(0x9E3779B9)
_W32_1 = np.uint64(0xBB67AE85)

# Philox4x64 multipliers and Weyl key increments
_M4X64_0 = np.uint64(0xD2E7470EE14C6C93)
_M4X64_1 = np.uint64(0xCA5A826395121157)
_W64_0 = np.uint64(0x9E3779B97F4A7C15)
_W64_1 = np.uint64(0xBB67AE8584CAA73B)

_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0

_ROUNDS = 10


def _jit(func):
    return numba.njit(cache=True)(func)


# --------------------------------------------------------------------------------------
# Philox4x32-10
# --------------------------------------------------------------------------------------
def _philox4x32_10_py(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block: 4 counter words and 2 key words (each < 2**32) -> 4 words."""
    x0 = np.uint64(c0) & _MASK32
    x1 = np.uint64(c1) & _MASK32
    x2 = np.uint64(c2) & _MASK32
    x3 = np.uint64(c3) & _MASK32
    key0 = np.uint64(k0) & _MASK32
    key1 = np.uint64(k1) & _MASK32
    for _ in range(_ROUNDS):
        # a 32 x 32 -> 64-bit product fits exactly in a uint64
        product0 = _M4X32_0 * x0
        product1 = _M4X32_1 * x2
        y0 = (product1 >> _SHIFT32) ^ x1 ^ key0
        y1 = product1 & _MASK32
        y2 = (product0 >> _SHIFT32) ^ x3 ^ key1
        y3 = product0 & _MASK32
        x0 = y0
        x1 = y1
        x2 = y2
        x3 = y3
        key0 = (key0 + _W32_0) & _MASK32
        key1 = (key1 + _W32_1) & _MASK32
    return x0, x1, x2, x3


philox4x32_10 = _jit(_philox4x32_10_py)


# --------------------------------------------------------------------------------------
# Philox4x64-10
# --------------------------------------------------------------------------------------
def _mulhilo64_py(a, b):
    """(high, low) 64-bit halves of the 128-bit product of two uint64 values."""
    a_low = a & _MASK32
    a_high = a >> _SHIFT32
    b_low = b & _MASK32
    b_high = b >> _SHIFT32
    low_low = a_low * b_low
    low_high = a_low * b_high
    high_low = a_high * b_low
    high_high = a_high * b_high
    middle = (low_low >> _SHIFT32) + (low_high & _MASK32) + (high_low & _MASK32)
    high = high_high + (low_high >> _SHIFT32) + (high_low >> _SHIFT32) + (middle >> _SHIFT32)
    low = a * b  # wraps modulo 2**64
    return high, low


@intrinsic
def _mulhilo64_native(typingctx, a, b):
    """The 128-bit product as one LLVM ``mul i128`` (a single instruction on x86-64 and arm64)."""
    if a != numba.types.uint64 or b != numba.types.uint64:
        return None
    signature = numba.types.UniTuple(numba.types.uint64, 2)(numba.types.uint64, numba.types.uint64)

    def codegen(context, builder, sig, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        low = builder.trunc(product, ir.IntType(64))
        return context.make_tuple(builder, sig.return_type, (high, low))

    return signature, codegen


@numba.njit(cache=True)
def mulhilo64(a, b):
    """(high, low) 64-bit halves of the 128-bit product of two uint64 values.

    On the CPU the product is one native 128-bit multiply, 2.5x faster per Philox block than
    assembling it from 32-bit halves; the result is the same bit for bit (tests/unit/test_philox.py).
    The GPU build uses the portable :func:`_mulhilo64_py` (``DEVICE_SOURCES``).
    """
    return _mulhilo64_native(np.uint64(a), np.uint64(b))


def _philox4x64_10_py(c0, c1, c2, c3, k0, k1):
    """Philox4x64-10 block: 4 counter words and 2 key words (uint64) -> 4 uint64 words."""
    x0 = np.uint64(c0)
    x1 = np.uint64(c1)
    x2 = np.uint64(c2)
    x3 = np.uint64(c3)
    key0 = np.uint64(k0)
    key1 = np.uint64(k1)
    for _ in range(_ROUNDS):
        high0, low0 = mulhilo64(_M4X64_0, x0)
        high1, low1 = mulhilo64(_M4X64_1, x2)
        y0 = high1 ^ x1 ^ key0
        y2 = high0 ^ x3 ^ key1
        x0 = y0
        x1 = low1
        x2 = y2
        x3 = low0
        key0 = key0 + _W64_0
        key1 = key1 + _W64_1
    return x0, x1, x2, x3


philox4x64_10 = _jit(_philox4x64_10_py)


# --------------------------------------------------------------------------------------
# Keyed uniforms
# --------------------------------------------------------------------------------------
def _purpose_word_py(purpose, substream):
    """Counter word 3: the PURPOSE_* code in bits 0-7, a sub-stream id (e.g. species) above."""
    return np.uint64(purpose) + (np.uint64(substream) << np.uint64(8))


purpose_word = _jit(_purpose_word_py)


def _word_to_uniform01_py(word):
    """The top 53 bits of a uint64 word as a double in [0, 1) (numpy's convention)."""
    return np.float64(np.uint64(word) >> _SHIFT11) * _TWO_POW_MINUS_53


word_to_uniform01 = _jit(_word_to_uniform01_py)


def _uniform01x4_py(seed, run, step, element, purpose, block):
    """Four doubles in [0, 1) from one Philox4x64-10 block: uniforms 4*block .. 4*block+3."""
    w0, w1, w2, w3 = philox4x64_10(block, element, step, purpose, seed, run)
    return word_to_uniform01(w0), word_to_uniform01(w1), word_to_uniform01(w2), word_to_uniform01(w3)


uniform01x4 = _jit(_uniform01x4_py)


def _uniform01_py(seed, run, step, element, purpose, index):
    """Uniform number ``index`` (>= 0) of the stream (seed, run, step, element, purpose)."""
    index = np.int64(index)
    block = index // 4
    lane = index - 4 * block
    w0, w1, w2, w3 = philox4x64_10(block, element, step, purpose, seed, run)
    if lane == 0:
        word = w0
    elif lane == 1:
        word = w1
    elif lane == 2:
        word = w2
    else:
        word = w3
    return word_to_uniform01(word)


uniform01 = _jit(_uniform01_py)


# --------------------------------------------------------------------------------------
# Streams: an arbitrary number of draws for one (seed, run, step, element, purpose)
# --------------------------------------------------------------------------------------
def _stream_init_py(state, seed, run, step, element, purpose):
    """Point ``state`` (uint64[STREAM_WORDS]) at the start of a keyed stream."""
    state[_SEED] = np.uint64(seed)
    state[_RUN] = np.uint64(run)
    state[_ELEMENT] = np.uint64(element)
    state[_STEP] = np.uint64(step)
    state[_PURPOSE] = np.uint64(purpose)
    state[_NEXT_BLOCK] = np.uint64(0)
    state[_POSITION] = _EMPTY
    state[7] = np.uint64(0)


stream_init = _jit(_stream_init_py)


def _stream_next_uint64_py(state):
    """Next 64-bit word of the stream; one Philox block is computed every four calls."""
    position = np.int64(state[_POSITION])
    if position >= _BLOCK_WORDS:
        w0, w1, w2, w3 = philox4x64_10(
            state[_NEXT_BLOCK], state[_ELEMENT], state[_STEP], state[_PURPOSE], state[_SEED], state[_RUN]
        )
        state[_BUFFER] = w0
        state[_BUFFER + 1] = w1
        state[_BUFFER + 2] = w2
        state[_BUFFER + 3] = w3
        state[_NEXT_BLOCK] = state[_NEXT_BLOCK] + _ONE
        position = 0
    word = state[_BUFFER + position]
    state[_POSITION] = np.uint64(position + 1)
    return word


stream_next_uint64 = _jit(_stream_next_uint64_py)


def _stream_uniform01_py(state):
    """Next double in [0, 1) of the stream: draw k equals ``uniform01(..., index=k)``."""
    return word_to_uniform01(stream_next_uint64(state))


stream_uniform01 = _jit(_stream_uniform01_py)


def new_stream(seed=0, run=0, step=0, element=0, purpose=0):
    """Allocate and initialise a stream state array (host helper, not for device code).

    Examples
    --------
    >>> state = new_stream(seed=7, run=0, step=3, element=12, purpose=PURPOSE_LEAVE)
    >>> u = stream_uniform01(state)
    >>> u == uniform01(7, 0, 3, 12, PURPOSE_LEAVE, 0)
    True
    """
    for name, value in (
        ("seed", seed),
        ("run", run),
        ("step", step),
        ("element", element),
        ("purpose", purpose),
    ):
        if not 0 <= int(value) < 2**64:
            raise ValueError(f"new_stream: {name}={value!r} must be an integer in [0, 2**64)")
    state = np.zeros(STREAM_WORDS, dtype=np.uint64)
    state[_SEED] = int(seed)
    state[_RUN] = int(run)
    state[_ELEMENT] = int(element)
    state[_STEP] = int(step)
    state[_PURPOSE] = int(purpose)
    state[_POSITION] = _BLOCK_WORDS
    return state


# --------------------------------------------------------------------------------------
# The same sources compiled for numba.cuda
# --------------------------------------------------------------------------------------
#: (global name, Python source function) in dependency order
DEVICE_SOURCES = (
    ("philox4x32_10", _philox4x32_10_py),
    ("mulhilo64", _mulhilo64_py),
    ("philox4x64_10", _philox4x64_10_py),
    ("purpose_word", _purpose_word_py),
    ("word_to_uniform01", _word_to_uniform01_py),
    ("uniform01x4", _uniform01x4_py),
    ("uniform01", _uniform01_py),
    ("stream_init", _stream_init_py),
    ("stream_next_uint64", _stream_next_uint64_py),
    ("stream_uniform01", _stream_uniform01_py),
)


def rebuild_functions(sources, decorate):
    """Compile ``sources`` with ``decorate`` so that their calls resolve to each other.

    ``sources`` is a sequence of (global name, Python source function) in dependency order,
    possibly from several modules.  Every copy shares one globals dictionary (the union of
    the sources' module globals) in which each name of ``sources`` refers to its rebuilt
    version, so calls between them never reach the njit versions.  Returns a dict
    name -> rebuilt function.
    """
    shared_globals = {}
    for _, source in sources:
        shared_globals.update(source.__globals__)
    built = {}
    for name, source in sources:
        copy = types.FunctionType(
            source.__code__, shared_globals, name, source.__defaults__, source.__closure__
        )
        built[name] = decorate(copy)
        shared_globals[name] = built[name]
    return built


def make_cuda_device_functions():
    """The functions of this module compiled with ``numba.cuda.jit(device=True)``.

    ``numba.cuda`` is imported here, never at module import.  Returns a
    ``types.SimpleNamespace`` with the names of ``DEVICE_SOURCES``.  A kernel allocates its
    stream with ``cuda.local.array(STREAM_WORDS, numba.uint64)``.
    """
    from numba import cuda

    return types.SimpleNamespace(**rebuild_functions(DEVICE_SOURCES, cuda.jit(device=True)))
