r"""Optimizer state in fewer bytes: the ``state_dtype`` option.

A step of Adam reads and writes its two float32 buffers: 16 of its 28 bytes per parameter. Kept
in fewer bits, the buffers are still *computed* in float32: each step loads them as float32,
runs the rule's equations and stores the new values back in their format. Two formats:

* ``torch.bfloat16`` (2 bytes): the float32 value's upper 16 bits, rounded **stochastically**:
  the lower 16 bits :math:`\ell` of the float32 bit pattern are dropped after adding 16 random
  bits :math:`r`, so the magnitude rounds up with probability :math:`\ell / 2^{16}` and the
  stored value is unbiased, :math:`\mathbb{E}[\mathrm{bf16}(x)] = x`. A small EMA update
  (:math:`(1-\beta_2) g^2` against :math:`v`) that round-to-nearest would lose every step
  survives on average. The random bits are counter-based: a key per (parameter, step, buffer)
  hashed in Python (:func:`keys`), and per element the upper half of
  :math:`(k \oplus \mathrm{key}) \cdot 2^{32}/\varphi`; no generator state, so every path, a
  resumed run and a rerun draw the same bits.
* ``torch.uint8`` (1 byte + 4 per 256, for tensors of :data:`SMALL` elements or more; smaller
  ones keep float32): **block-wise dynamic quantisation** (Dettmers et al.,
  *8-bit Optimizers via Block-wise Quantization*, ICLR 2022). Per block of 256 elements of a
  tensor the absolute maximum :math:`a` is kept in float32 and each element as the index of the
  nearest of 256 values :math:`q_c` of the *dynamic tree* map: :math:`x \approx q_c\, a`.
  The map spends its bits on the exponent: :math:`\pm 10^{-E} f` for :math:`E = 0, \dots, 6`
  with :math:`f` on a linear grid of :math:`2^{6-E}` points in [0.1, 1] (:math:`2^{7-E}` where
  the block holds no negative value: the unsigned map, the sign bit spent on the fraction),
  plus 0 and 1. Which map a block uses is the sign of its stored maximum (negative: signed).
  A buffer that read as 0 would make the step larger (:attr:`hamopt.runtime.Rule.nonzero`,
  :mod:`hamopt.rule.near_zero`: Adam's second moment) never stores a value that is not 0 as 0
  (a value whose nearest is 0 takes the nearest of its sign), since m/(√v + ε) with v read as 0
  is m/ε; any other buffer stores the nearest value, 0 included (Adam's first moment: a tiny
  one raised to its block's smallest value would step s/ε where the second moment is truly 0).

The arithmetic here is the reference: the single-tensor and foreach paths run it in torch
around the rule's fused equations (which compute operation for operation as the kernel), the
C++ kernel inlines the same (``prelude.h``: ``BFloat16State``, ``Int8State``). The random bits
are integer arithmetic and the codes comparisons of float32 numbers, so every path stores the
same bits; see :func:`load` and :func:`store_`.
"""

import array
import itertools
import math

import torch

__all__ = [
    "BLOCK",
    "DTYPES",
    "FORMATS",
    "SMALL",
    "decision_points",
    "dynamic_map",
    "extra_numbers",
    "format_of",
    "holds",
    "keys",
    "load",
    "quantise",
    "random_bits",
    "round_stochastically",
    "sized",
    "state_keys",
    "storage",
    "store_",
    "stored_buffer",
]

#: Elements per block of the 8-bit format (one float32 maximum per block).
BLOCK = 256

#: An 8-bit group's tensors with fewer elements keep float32 buffers, as bitsandbytes' 8-bit
#: optimizers do (``min_8bit_size``): they save little memory, and a small layer's state is
#: where 8 bits hurt (a CartPole DQN, 4-128-128-2, returned 194 on average over 4 seeds with
#: every tensor in 8 bits, 386 with only its 128 × 128 layer, 392 in float32).
SMALL = 4096

#: ``state_dtype`` → the name of its format (None: the parameter's type, float32 for half).
FORMATS = {torch.bfloat16: "bfloat16", torch.uint8: "int8"}

_MASK = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # 2^32 / φ: consecutive indices spread over the 32 bits


def _mix(x: int) -> int:
    """The 32-bit integer hash ``lowbias32`` (C. Wellons): every input bit flips every output
    bit with probability close to 1/2."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & _MASK
    return x ^ (x >> 16)


def _times(x: torch.Tensor, c: int) -> torch.Tensor:
    """x·c mod 2^32 for int64 tensors of 32-bit values, without leaving int64's range: the
    halves of x times c, the upper one's product kept modulo 2^16."""
    return ((x & 0xFFFF) * c + ((((x >> 16) * c) & 0xFFFF) << 16)) & _MASK


def keys(seed: int, position: int, step: int, buffers: int) -> list[int]:
    """The random keys of one tensor at one step: one per buffer. ``position``: the tensor's
    index among all parameters of the optimizer; ``step``: its step count after this step."""
    tensor = _mix(_mix((seed + _GOLDEN * position) & _MASK) ^ (step & _MASK))
    return [_mix((tensor + _GOLDEN * (j + 1)) & _MASK) for j in range(buffers)]


def random_bits(key: int, numel: int, device=None) -> torch.Tensor:
    """16 random bits per element k of a buffer: the upper half of (k ^ key)·2^32/φ mod 2^32
    (int64). Over the steps, ``key`` is a fresh hash, so each element's bits are uniform; the
    multiplication spreads neighbouring elements' bits apart within a step."""
    k = torch.arange(numel, dtype=torch.int64, device=device) & _MASK
    return _times(k ^ key, _GOLDEN) >> 16


def round_stochastically(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    r"""float32 ``x`` to bfloat16, its magnitude rounded up with probability (lower 16
    bits)/2^16: ``bits`` (0 ≤ bits < 2^16) added to the float32 pattern, the upper half kept,
    so that :math:`\mathbb{E}[\mathrm{bf16}(x)] = x`. ±Inf stays ±Inf and so does every NaN
    arithmetic makes (its quiet bit set); only a NaN whose upper 16 bits are all ones, which
    no arithmetic makes, would carry into the sign."""
    pattern = x.contiguous().view(torch.int32).to(torch.int64) & _MASK
    upper = ((pattern + bits.view(x.shape)) >> 16) & 0xFFFF
    upper = torch.where(upper >= 0x8000, upper - 0x10000, upper)  # as int16
    return upper.to(torch.int16).view(torch.bfloat16)


def dynamic_map(signed: bool) -> torch.Tensor:
    """The 256 values of the dynamic tree map (float32, ascending): ±10^-E times the midpoints
    (g_i + g_{i+1})/2 of the grid g_i = 0.1 + 0.9 i / 2^F, i = 0…2^F, with F = 6 − E signed
    (7 − E unsigned) and E = 0…6, then 0 and 1; each computed in float64, rounded once."""
    values = [0.0, 1.0]
    for e in range(7):
        points = 2 ** ((6 if signed else 7) - e)
        grid = [0.1 + 0.9 * i / points for i in range(points + 1)]
        means = [(a + b) / 2 * 10.0**-e for a, b in itertools.pairwise(grid)]
        values += means + ([-m for m in means] if signed else [])
    return torch.tensor(sorted(values), dtype=torch.float32)


def decision_points(values: torch.Tensor) -> torch.Tensor:
    """The 255 decision points between consecutive values of a map (each the midpoint, computed
    in float64 and rounded to float32), then +inf: a normalised element's code is the number of
    decision points below it."""
    v = values.double()
    middle = ((v[:-1] + v[1:]) / 2).float()
    return torch.cat([middle, torch.tensor([math.inf], dtype=torch.float32)])


_SIGNED, _UNSIGNED = dynamic_map(True), dynamic_map(False)
#: The code of the value 0 in the signed (True) and the unsigned map.
_ZERO = {True: int((_SIGNED == 0).nonzero()), False: int((_UNSIGNED == 0).nonzero())}
_TABLES = {}  # device → (signed map, unsigned map, signed points, unsigned points), no +inf


def _tables(device) -> tuple[torch.Tensor, ...]:
    key = str(device)
    if key not in _TABLES:
        arrays = (
            _SIGNED,
            _UNSIGNED,
            decision_points(_SIGNED)[:-1],
            decision_points(_UNSIGNED)[:-1],
        )
        _TABLES[key] = tuple(a.to(device) for a in arrays)
    return _TABLES[key]


def extra_numbers(
    fmt: str, places: list[int], counts: list[int], nonzero: tuple[bool, ...] = ()
) -> array.array:
    """What the format's kernel reads after the rule's numbers (float64, in an ``array``):
    ``bfloat16``: each tensor's place among the optimizer's parameters, then its step count
    after this step (n each), from which the kernel derives the :func:`keys`; ``int8``: the two
    maps and their decision points (4 × 256, the same every step), then per buffer whether it
    keeps a value that is not 0 from being stored as 0 (``nonzero``, :func:`quantise`)."""
    if fmt == "float32":
        return array.array("d")
    if fmt == "bfloat16":
        return array.array("d", [*places, *counts])
    key = ("int8", *nonzero)
    if key not in _EXTRA:
        arrays = (_SIGNED, _UNSIGNED, decision_points(_SIGNED), decision_points(_UNSIGNED))
        _EXTRA[key] = array.array("d", [*torch.cat(arrays).double().tolist(), *map(float, nonzero)])
    return _EXTRA[key]


_EXTRA = {}


def format_of(fmt: str, numel: int) -> str:
    """The format a tensor of ``numel`` elements keeps its buffers in, in a group of format
    ``fmt``: ``"float32"`` for an 8-bit group's tensors of fewer than :data:`SMALL` elements."""
    return "float32" if fmt == "int8" and numel < SMALL else fmt


def sized(fmt: str) -> bool:
    """Whether a group of format ``fmt`` keeps some tensors in another format by their size
    (:func:`format_of`: an 8-bit group's small tensors in float32)."""
    return format_of(fmt, 0) != fmt


def state_keys(fmt: str, buffer: str) -> tuple[str, ...]:
    """The keys under which a parameter's state holds ``buffer`` kept in format ``fmt``: its
    values (or codes), then, 8-bit, its block maxima ``<buffer>_absmax``."""
    return (buffer, f"{buffer}_absmax") if fmt == "int8" else (buffer,)


def stored_buffer(fmt: str, buffer: str, p: torch.Tensor, device=None) -> dict[str, torch.Tensor]:
    """``buffer`` of parameter ``p`` in a group of format ``fmt``, zero, by its keys: in the
    format its size gives it (:func:`format_of`), shaped for ``p``'s real view (on ``device``;
    ``"meta"``: what it would be, allocating nothing)."""
    shape = torch.view_as_real(p).shape if p.is_complex() else p.shape
    own = format_of(fmt, math.prod(shape))
    columns = storage(own, shape, p.device if device is None else device)
    return dict(zip(state_keys(own, buffer), columns, strict=True))


#: Per format, the dtypes of a buffer's tensors (values; or codes, block maxima).
DTYPES = {
    "float32": (torch.float32,),
    "bfloat16": (torch.bfloat16,),
    "int8": (torch.uint8, torch.float32),
}


def holds(fmt: str, stored: tuple, numel: int) -> bool:
    """Whether ``stored`` (a buffer's tensors) is what format ``fmt`` keeps for a tensor of
    ``numel`` elements: the dtypes and sizes a step reads (the kernel past their end, where a
    state written over by hand holds others)."""
    sizes = (numel, math.ceil(numel / BLOCK)) if fmt == "int8" else (numel,)
    return len(stored) == len(sizes) and all(
        isinstance(t, torch.Tensor) and t.dtype == d and t.numel() == k
        for t, d, k in zip(stored, DTYPES[fmt], sizes, strict=False)
    )


def storage(fmt: str, shape: torch.Size, device) -> tuple[torch.Tensor, ...]:
    """A zero buffer of ``shape`` in format ``fmt``: (float32 values,), (bfloat16 values,) or
    (uint8 codes, float32 block maxima)."""
    if fmt in ("float32", "bfloat16"):
        return (torch.zeros(shape, dtype=getattr(torch, fmt), device=device),)
    blocks = math.ceil(math.prod(shape) / BLOCK)
    return (
        torch.zeros(shape, dtype=torch.uint8, device=device),
        torch.zeros(blocks, dtype=torch.float32, device=device),
    )


def load(fmt: str, stored: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The buffer as float32: float32 itself; bfloat16 widened (exact); 8-bit: q_c · |a| of its
    block, from the signed map where a < 0 (and 0 where q_c = 0 in a block whose |a| is inf, an
    overflow, where 0·inf would be NaN; a block whose maximum is NaN, after a NaN gradient
    stepped with ``nonfinite="ignore"``, reads NaN throughout, as the kernel's)."""
    if fmt == "float32":
        return stored[0]
    if fmt == "bfloat16":
        return stored[0].float()
    codes, maxima = stored
    signed, unsigned, _, _ = _tables(codes.device)
    n = codes.numel()
    flat = codes.reshape(-1).long()
    scale = maxima.repeat_interleave(BLOCK)[:n]
    mapped = torch.where(scale < 0, signed[flat], unsigned[flat])
    overflowed = (mapped == 0) & scale.isinf()
    values = torch.where(overflowed, mapped, mapped * scale.abs())  # 0, not 0·inf, where |a| = inf
    return values.view(codes.shape)  # q_c·|a|: the kernel looks up the same products


def quantise(x: torch.Tensor, nonzero: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``x`` to (uint8 codes, float32 block maxima): per block of 256 (the last one
    padded with zeros) a = max |x| (negated where the block holds a value < 0), and each
    element's code the number of the map's decision points below y = x·(1/|a|) (x itself where
    a = 0; x·2⁶⁴·(1/(|a|·2⁶⁴)) where |a| is subnormal, whose inverse overflows; an x ≠ 0 whose
    y underflows to 0 as the smallest float32 of its sign; ±1 for x = ±inf, an overflow, whose
    block's |a| is inf), both roundings float32's: the nearest map value. With ``nonzero`` (a
    buffer that read as 0 would step further, ``Rule.nonzero``), a y ≠ 0 nearest to 0 takes
    the nearest value of its sign instead. So such a buffer is 0 only where it is 0: a second
    moment below 3.25e-7 of its block's maximum would otherwise read 0 while its first moment
    does not, and Adam's step m/(√v + ε) would be m/ε (a DQN diverged so, in 14 of 16 seeds).
    A block that holds ±inf reads back ±inf there, 0 where it held 0, and ±inf for its other
    values of a buffer kept nonzero (0 for the others): Adam's second moment overflowing at
    |g| ≈ 1e30 freezes the block's coordinates (m/inf = 0) where 0·inf made them NaN."""
    n = x.numel()
    flat = torch.nn.functional.pad(x.reshape(-1), (0, -n % BLOCK)).view(-1, BLOCK)
    _, _, signed, unsigned = _tables(x.device)
    maxima = flat.abs().amax(dim=1)
    negative = (flat < 0).any(dim=1)
    # a subnormal a: 1/a overflows float32, so x and a are scaled by 2^64 first (exactly)
    tiny = (maxima > 0) & (maxima < torch.finfo(torch.float32).tiny)
    scale = torch.ones_like(maxima).masked_fill_(tiny, 2.0**64)
    y = (flat * scale[:, None]) * (1 / torch.where(maxima > 0, maxima * scale, 1.0))[:, None]
    least = torch.full_like(y, 2.0**-149).copysign(flat)
    y = torch.where((y == 0) & (flat != 0), least, y)  # not 0 to the search: prelude's scaled()
    y = torch.where(flat.isinf(), flat.sign(), y)  # an overflow: ±inf is ±1 of its block (a = inf)
    codes = torch.where(negative[:, None], torch.bucketize(y, signed), torch.bucketize(y, unsigned))
    zero = torch.where(negative, _ZERO[True], _ZERO[False])[:, None]
    if nonzero:
        codes = torch.where((codes == zero) & (y != 0), zero + torch.where(y > 0, 1, -1), codes)
    codes = codes.reshape(-1)[:n].to(torch.uint8).view(x.shape)
    return codes, torch.where(negative, -maxima, maxima)


def store_(
    fmt: str, stored: tuple[torch.Tensor, ...], value: torch.Tensor, key: int, nonzero: bool = True
) -> None:
    """Write float32 ``value`` into ``stored`` (its format ``fmt``), ``key`` the buffer's random
    key this step (bfloat16), ``nonzero`` whether a value that is not 0 may not be stored as 0
    (8-bit, :func:`quantise`)."""
    if fmt == "float32":
        if value is not stored[0]:
            stored[0].copy_(value)
        return
    if fmt == "bfloat16":
        bits = random_bits(key, value.numel(), value.device)
        stored[0].copy_(round_stochastically(value, bits))
        return
    codes, maxima = quantise(value, nonzero)
    stored[0].copy_(codes)
    stored[1].copy_(maxima)
