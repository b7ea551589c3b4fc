"""The low-precision formats of ``state_dtype`` (:mod:`hamopt.runtime.state_storage`): the
dynamic tree maps, the 8-bit codes (nearest map value, signed map only where a block holds a
negative value), the kernel's code search (at most one decision point per bin; its scalar and
vectorised searches give the reference's codes, to the value's last bit), stochastic
rounding to bfloat16 (unbiased, only to the two neighbours, ±Inf and NaN kept) and its keys."""

import math
import os

import pytest
import torch

from hamopt.runtime import state_storage as storage

F32 = torch.float32  # the formats store what the step computes: float32


@pytest.mark.parametrize("signed", [True, False])
def test_the_dynamic_map_is_256_ascending_values_from_its_formula(signed):
    values = storage.dynamic_map(signed)
    assert values.dtype == torch.float32 and values.numel() == 256
    assert bool((values[1:] > values[:-1]).all())
    assert 0.0 in values.tolist() and values.max() == 1.0
    if signed:
        positive = values[values > 0][:-1]  # less the 1
        assert torch.equal(values[values < 0].flip(0), -positive)  # ± the same magnitudes
        assert values.min() < 0
    else:
        assert values.min() == 0
    # decade E = 0 (values in [0.1, 1)) holds 2^(6 - 0) per sign, 2^7 unsigned
    first = values[(values >= 0.1) & (values < 1)]
    assert first.numel() == (64 if signed else 128)
    spacing = first[1:] - first[:-1]
    assert float(spacing.max() - spacing.min()) < 1e-6  # a linear grid within a decade


def _bin_edges():
    """Every bin of the kernel's code search (prelude.h's ``bin_of``): sign, binary exponent
    2^-30 … 2^0, upper 7 mantissa bits; the lowest and highest float32 of each."""
    for sign in (0, 1):
        for e in range(97, 128):
            for m in range(128):
                low = e << 23 | m << 16
                high = low | 0xFFFF
                a, b = (
                    torch.tensor([x | sign << 31 for x in (low, high)], dtype=torch.int64)
                    .to(torch.int32)
                    .view(torch.float32)
                    .tolist()
                )
                yield min(a, b), max(a, b)


@pytest.mark.parametrize("signed", [True, False])
def test_at_most_one_decision_point_lies_in_a_bin_of_the_kernels_code_search(signed):
    """The kernel starts at the number of decision points below its bin's lowest float32 and
    adds one if y lies above the next: exact when a bin holds at most one decision point, and
    when none lies within ±2^-29 (the bins below 2^-30 are folded into 2^-30's)."""
    points = storage.decision_points(storage.dynamic_map(signed))[:-1].double()
    most = 0
    for low, high in _bin_edges():
        most = max(most, int(((points >= low) & (points <= high)).sum()))
    assert most == 1
    assert float(points.abs().min()) > 2.0**-29


def _kernel_codes(
    x: torch.Tensor, signed: bool, vectorised: bool, nonzero: bool = True, inverse: float = 1.0
) -> torch.Tensor:
    """The codes of float32 ``x`` · ``inverse`` by the kernel library's search (``nonzero``: a
    value that is not 0 is not stored as 0)."""
    import ctypes

    from hamopt.optim import Adam
    from hamopt.runtime.kernel import _function

    library = Adam.KERNEL.library("Adam", quiet=True)
    if not library:
        pytest.skip("no C++ compiler: the kernel's search is not built")
    x = x.contiguous()
    codes = torch.empty(x.numel(), dtype=torch.uint8)
    extra = torch.frombuffer(storage.extra_numbers("int8", [], []), dtype=torch.float64)
    _function(library, "int8_codes")(
        x.numel(), x.data_ptr(), ctypes.c_float(inverse), int(signed), int(nonzero),
        int(vectorised), extra.data_ptr(), codes.data_ptr(),
    )  # fmt: skip
    return codes


@pytest.mark.parametrize("nonzero", [True, False], ids=["nonzero", "nearest"])
@pytest.mark.parametrize("signed", [True, False])
def test_the_kernels_searches_give_the_references_codes(signed, nonzero):
    """Every decision point, the float32 values next to it on either side, ±0, subnormals,
    the smallest and largest values, random ones: the kernel's scalar search (bins) and its
    vectorised one (where the build has AVX-512: by arithmetic, or a binary search in
    registers near a decision point; with AVX2: by arithmetic, or the scalar search near a
    decision point) give the codes of
    the reference (torch.bucketize in :func:`state_storage.quantise`); NaN and ±Inf, which the
    reference does not define, the same codes in both searches."""
    points = storage.decision_points(storage.dynamic_map(signed))[:-1]
    inf = torch.tensor(math.inf)
    around = [points, torch.nextafter(points, inf), torch.nextafter(points, -inf)]
    tiny = torch.tensor([0.0, -0.0, 1e-45, 1e-40, 1.2e-38, 2.0**-30, 2.0**-29, 3e-8, 1.0])
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([*around, tiny, -tiny, torch.rand(5000, generator=gen) ** 8])
    x = x.float()
    x = (x if signed else x.abs()).clamp(-1.0, 1.0)
    x = torch.cat([x, x.new_zeros(-x.numel() % (storage.BLOCK - 2))]).view(-1, storage.BLOCK - 2)
    ends = x.new_tensor([-1.0 if signed else 1.0, 1.0]).expand(x.shape[0], 2)
    x = torch.cat([ends, x], dim=1).reshape(-1)  # each block's largest magnitude: 1
    expected, maxima = storage.quantise(x, nonzero)
    assert bool((maxima.abs() == 1).all()) and bool((maxima < 0).all()) == signed
    for vectorised in (False, True):
        assert torch.equal(_kernel_codes(x, signed, vectorised, nonzero), expected.view(-1))
    odd = torch.tensor([math.nan, -math.nan, math.inf, -math.inf, 0.5] * 7)  # 35: both loops
    assert torch.equal(
        _kernel_codes(odd, signed, True, nonzero), _kernel_codes(odd, signed, False, nonzero)
    )
    zero = storage._ZERO[signed]
    if nonzero:  # a value that is not 0 is not stored as 0
        assert bool(((expected == zero) == (x.view(expected.shape) == 0)).all())
    else:  # the nearest value: 0 for the tiny ones
        assert int((expected == zero).sum()) > int((x == 0).sum())


@pytest.mark.parametrize("signed", [True, False])
def test_a_value_whose_scaled_value_underflows_is_not_stored_as_zero(signed):
    """1e-27 beside a block maximum of 1e21: x·(1/a) underflows to 0 in float32, so the search
    saw 0 and stored it as 0, and Adam's step read m/ε for a second moment that is not 0. Such
    a value now counts as the smallest float32 of its sign: stored as the nearest nonzero value
    of its sign (nonzero), or as 0 (nearest), by the reference and by both kernel searches."""
    x = torch.full((256,), 1e-27, dtype=torch.float32)
    x[1::3] = 3e-39  # subnormal, and 1e-45 beside 1e7: underflows too
    x[2::5] = -1e-30 if signed else 1e-30
    x[7] = 1e21
    codes, maxima = storage.quantise(x)
    zero = storage._ZERO[signed]
    assert float(maxima[0]) == float(x[7]) * (-1 if signed else 1)
    assert not bool((codes == zero).any())
    assert torch.equal(codes > zero, x > 0)
    assert not bool((storage.load("int8", (codes, maxima)) == 0).any())
    nearest, _ = storage.quantise(x, nonzero=False)
    assert bool((nearest[x.abs() < 1] == zero).all())
    inverse = float(1 / x[7])  # float32's, as the kernel's store takes it
    for nonzero, expected in ((True, codes), (False, nearest)):
        for vectorised in (False, True):
            got = _kernel_codes(x, signed, vectorised, nonzero, inverse)
            assert torch.equal(got, expected), (nonzero, vectorised)


@pytest.mark.parametrize("nonzero", [True, False], ids=["nonzero", "nearest"])
@pytest.mark.parametrize("signed", [True, False])
def test_the_vectorised_search_agrees_with_the_scalar_one_everywhere(signed, nonzero):
    """Float32 bit patterns 4093 apart across all 2^32 (every sign, octave and special value,
    negative values in the unsigned map, which a block never holds, included), and the 512
    float32 values on either side of every decision point, 8 apart: the vectorised search
    (arithmetic codes, binary search for 16 values of which one is within 2^-10 of a decision
    point in its decade's units) gives the scalar search's codes. (All 2^32 patterns: the
    next test, about three minutes, run with HAMOPT_EXHAUSTIVE=1.)"""
    bits = torch.arange(0, 2**32, 4093, dtype=torch.int64)
    patterns = torch.where(bits >= 2**31, bits - 2**32, bits).to(torch.int32).view(torch.float32)
    points = storage.decision_points(storage.dynamic_map(signed))[:-1]
    steps = torch.arange(-512, 513, 8, dtype=torch.int32)
    near = (points.view(torch.int32)[:, None] + steps).view(torch.float32).reshape(-1)
    x = torch.cat([patterns, near, -near])
    assert torch.equal(
        _kernel_codes(x, signed, True, nonzero), _kernel_codes(x, signed, False, nonzero)
    )


@pytest.mark.skipif(
    not os.environ.get("HAMOPT_EXHAUSTIVE"), reason="all 2^32 patterns: set HAMOPT_EXHAUSTIVE=1"
)
@pytest.mark.parametrize("nonzero", [True, False], ids=["nonzero", "nearest"])
@pytest.mark.parametrize("signed", [True, False])
def test_the_vectorised_search_agrees_with_the_scalar_one_on_every_float32(signed, nonzero):
    for start in range(0, 2**32, 2**24):
        bits = torch.arange(start, start + 2**24, dtype=torch.int64)
        x = torch.where(bits >= 2**31, bits - 2**32, bits).to(torch.int32).view(torch.float32)
        fast, searched = (_kernel_codes(x, signed, v, nonzero) for v in (True, False))
        assert torch.equal(fast, searched), start


def test_codes_are_the_nearest_map_value_and_decode_to_it():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10_000, generator=gen, dtype=F32) * torch.logspace(-7, 0, 10_000, dtype=F32)
    codes, maxima = storage.quantise(x)
    assert codes.dtype == torch.uint8 and maxima.shape == (math.ceil(10_000 / 256),)
    signed = storage.dynamic_map(True)
    y = (x.view(-1) * torch.repeat_interleave(1 / maxima.abs(), 256)[:10_000]).double()
    gaps = (signed.double()[None, :] - y[:, None]).abs()
    gaps[:, signed == 0] = torch.where(y != 0, math.inf, 0.0)[:, None]  # 0 only for 0
    chosen = gaps.gather(1, codes.long()[:, None])[:, 0]
    assert float((chosen - gaps.min(1).values).max()) < 1e-7  # the nearest, up to rounding
    decoded = storage.load("int8", (codes, maxima))
    scale = torch.repeat_interleave(maxima.abs(), 256)[:10_000]
    assert torch.equal(decoded, signed[codes.long()] * scale)
    assert float(((decoded - x).abs() / scale).max()) <= 0.5 * 0.9 / 64 + 1e-6  # half a step


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_value_that_is_not_zero_is_not_stored_as_zero(sign):
    """A second moment 1e-9 of its block's maximum would round to 0 and make Adam's step m/ε:
    it takes the map's smallest value of its sign instead."""
    x = torch.tensor([1.0, 1e-9, 0.0, -1e-12] if sign < 0 else [1.0, 1e-9, 0.0, 1e-12], dtype=F32)
    decoded = storage.load("int8", storage.quantise(x))
    assert decoded[2] == 0
    assert bool((decoded[[1, 3]] != 0).all())
    assert bool((torch.sign(decoded[[1, 3]]) == torch.sign(x[[1, 3]])).all())


def test_a_block_uses_the_signed_map_only_where_it_holds_a_negative_value():
    x = torch.cat([torch.rand(256) + 0.1, torch.rand(256) - 0.5, torch.zeros(100)]).float()
    codes, maxima = storage.quantise(x)
    assert maxima[0] > 0 and maxima[1] < 0 and maxima[2] == 0
    assert torch.equal(storage.load("int8", (codes, maxima))[512:], torch.zeros(100, dtype=F32))
    unsigned = storage.dynamic_map(False)
    assert torch.equal(
        storage.load("int8", (codes, maxima))[:256], unsigned[codes[:256].long()] * maxima[0]
    )


def test_stochastic_rounding_is_unbiased_and_picks_one_of_the_two_neighbours():
    n = 200_000
    x = torch.full((n,), 1.0 + 2**-9 + 2**-12, dtype=F32)  # between bfloat16's 2^-7 steps
    rounded = [
        storage.round_stochastically(x, storage.random_bits(key, n)).float()
        for key in storage.keys(0, 3, 1, 4)
    ]
    values = torch.cat(rounded)
    assert set(values.unique().tolist()) == {1.0, 1.0078125}
    up = float((values > 1).double().mean())  # P(up) = (2^-9 + 2^-12) / 2^-7
    assert abs(up - (2**-9 + 2**-12) / 2**-7) < 0.005
    assert abs(float(values.double().mean()) - float(x[0])) < 2e-5


def test_stochastic_rounding_keeps_infinities_and_nans_and_exact_values():
    x = torch.tensor([math.inf, -math.inf, math.nan, 1.5, -0.0, 0.0, 2.0**-130], dtype=F32)
    out = storage.round_stochastically(x, torch.full((7,), 0xFFFF, dtype=torch.int64)).float()
    assert out[0] == math.inf and out[1] == -math.inf and math.isnan(out[2])
    assert out[3] == 1.5 and out[4] == 0 and out[5] == 0  # exact in bfloat16: unchanged
    assert out[6] > 0  # a subnormal rounds up to the next bfloat16 with all 16 bits set


def test_keys_depend_on_position_step_and_buffer_and_nothing_else():
    assert storage.keys(0, 5, 7, 3) == storage.keys(0, 5, 7, 3)
    keys = {k for pos in range(4) for t in range(1, 5) for k in storage.keys(0, pos, t, 2)}
    assert len(keys) == 4 * 4 * 2
    assert storage.keys(1, 5, 7, 2) != storage.keys(0, 5, 7, 2)
    bits = storage.random_bits(storage.keys(0, 0, 1, 1)[0], 1 << 16)
    assert 0 <= int(bits.min()) and int(bits.max()) < 1 << 16
    assert abs(float(bits.double().mean()) / (1 << 16) - 0.5) < 0.01
