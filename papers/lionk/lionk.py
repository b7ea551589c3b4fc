r"""Lion-K derived by hamopt, the constraint set from K's convex conjugate, the paper's
Lyapunov function, and the runs.

Lion-K (Chen, Liu, Liang, Liu, *Lion Secretly Solves Constrained Optimization, As Lyapunov
Predicts*, ICLR 2024) with decoupled weight decay λ:

.. math::

    c = \beta_1 m + (1-\beta_1) g,\quad
    x \leftarrow x(1 - \eta\lambda) - \eta\nabla K(c),\quad
    m \leftarrow \beta_2 m + (1-\beta_2) g.

hamopt derives it for any kinetic energy :math:`K` (:func:`derived`): the conformal Euler
scheme with the closures ``lookahead`` (Lion's interpolated read of the momentum) and
``decoupled_weight_decay``; :math:`K = |p|` is Lion itself.

The paper's reading: Lion-K minimises :math:`f(x) + K^*(\lambda x)/\lambda`; where
:math:`K^*` is infinite, that is a constraint. For an even convex per-particle :math:`K`,
:math:`K^*(y) = \sup_p (py - K(p))` is finite exactly on :math:`|y| \le K'(\infty)` (the
asymptotic slope), so the constraint set is the box :math:`\|x\|_\infty \le K'(\infty)/\lambda`;
inside it :math:`K^*(y) = y\,p^* - K(p^*)` with :math:`K'(p^*) = y` (:func:`conjugate`).

The paper's continuous-time Lion-K and its Lyapunov function (:func:`lyapunov`), with the
paper's momentum sign (:math:`m = -` the optimizer's ``exp_avg``):

.. math::

    \dot m = -\alpha\nabla f(x) - \gamma m,\quad
    \tilde m = m - \varepsilon(\alpha\nabla f(x) + \gamma m),\quad
    \dot x = \nabla K(\tilde m) - \lambda x,

    H(x, m) = \alpha f(x) + \frac{\gamma}{\lambda} K^*(\lambda x)
      + \frac{1 - \varepsilon\gamma}{1 + \varepsilon\lambda}
        \bigl(K^*(\lambda x) + K(m) - \lambda m^\top x\bigr),

    \frac{dH}{dt} = -\Delta,\quad
    \Delta = \frac{1-\varepsilon\gamma}{\varepsilon(1+\varepsilon\lambda)}
        (\tilde m - m)^\top(\nabla K(\tilde m) - \nabla K(m))
      + \frac{\gamma+\lambda}{1+\varepsilon\lambda}
        (\tilde m - \nabla K^*(\lambda x))^\top(\nabla K(\tilde m) - \lambda x).

The identity holds for any differentiable :math:`f`, :math:`K`, :math:`K^*` (eliminate
:math:`\alpha\nabla f = (m - \tilde m)/\varepsilon - \gamma m`); :math:`\Delta \ge 0` needs
:math:`\varepsilon\gamma \le 1`, :math:`K` convex (its gradient monotone) and
:math:`\lambda x \in \partial K(\nabla K^*(\lambda x))`, the conjugate pair.
:func:`decide` lets SymPy check each step; :func:`largest_rate` samples :math:`dH/dt`.
The discrete optimizer is the forward Euler step :math:`\eta` of this ODE
(:func:`ode_parameters`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

__all__ = [
    "Conjugate",
    "Decision",
    "Flow",
    "Sampled",
    "conjugate",
    "decide",
    "derived",
    "identity",
    "iterates",
    "largest_rate",
    "lyapunov",
    "ode_parameters",
    "run",
]


@functools.cache
def derived(name: str) -> type[torch.optim.Optimizer]:
    """The generated Lion-K class of the library energy ``name`` (``"massless"``: Lion)."""
    from hamopt import derive, kinetic

    energy = getattr(kinetic, name)()
    opt = derive(energy, "euler", closure=["lookahead", "decoupled_weight_decay"], name="LionK")
    return opt.cls


def energy_expr(name: str) -> tuple[sp.Expr, sp.Symbol]:
    r"""The per-particle :math:`K(p)` of the library energy ``name`` at its default parameters
    (exact rationals), and its real momentum symbol ``p``."""
    from hamopt import kinetic

    energy = getattr(kinetic, name)()
    values = {prm.symbol: sp.nsimplify(prm.default) for prm in energy.params}
    return energy.expr.xreplace(values), energy.p


@dataclass(frozen=True)
class Conjugate:
    r""":math:`K^*` of a per-particle energy: its domain :math:`|y| \le` ``bound`` and its
    value there (``value``, in ``y``; 0 for a positively homogeneous :math:`K`)."""

    energy: str
    bound: sp.Expr
    value: sp.Expr
    y: sp.Symbol

    def numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        fn = sp.lambdify(self.y, self.value, "numpy")
        return lambda y: np.broadcast_to(np.asarray(fn(y), dtype=float), np.shape(y))


@functools.cache
def conjugate(name: str) -> Conjugate:
    """:math:`K^*` of the library energy ``name`` at its default parameters, symbolically.

    Of the roots of :math:`K'(p) = z` SymPy returns, the one that is real and positive at a
    point inside the domain is kept (``log cosh`` also has the complex
    :math:`\\operatorname{atanh} z + i\\pi`).
    """
    k, p = energy_expr(name)
    x, y = sp.Symbol("x", positive=True), sp.Symbol("y", real=True)
    slope = sp.diff(k.xreplace({p: x}), x)
    bound = sp.limit(slope, x, sp.oo)
    if sp.simplify(k.xreplace({p: 2 * x}) - 2 * k.xreplace({p: x})) == 0:  # homogeneous: indicator
        return Conjugate(name, bound, sp.Integer(0), y)
    z = sp.Symbol("z", positive=True)  # y > 0 first; K* is even
    inside = bound / 2 if bound.is_finite else sp.Integer(1)

    def real_positive(root: sp.Expr) -> bool:
        value = complex(root.xreplace({z: inside}).evalf())
        return abs(value.imag) < 1e-12 * (1 + abs(value)) and value.real > 0

    roots = [r for r in sp.solve(sp.Eq(slope, z), x) if real_positive(r)]
    if not roots:
        raise ValueError(f"SymPy cannot invert K' of {name}")
    value = sp.simplify(z * roots[0] - k.xreplace({p: roots[0]}))
    return Conjugate(name, bound, value.xreplace({z: sp.Abs(y)}), y)


def ode_parameters(lr: float, betas: tuple[float, float], weight_decay: float) -> dict[str, float]:
    r"""The ODE's :math:`(\alpha, \gamma, \varepsilon, \lambda)` of which the discrete Lion-K
    with step :math:`\eta` = ``lr`` is the forward Euler step.

    With the paper's sign :math:`m = -` ``exp_avg``, the optimizer's
    :math:`m_{k+1} = \beta_2 m_k - (1-\beta_2)g` is :math:`m + \eta\dot m` for
    :math:`\alpha = \gamma = (1-\beta_2)/\eta`, and its look-ahead
    :math:`\beta_1 m_k - (1-\beta_1) g = m - \varepsilon(\alpha g + \gamma m)` for
    :math:`\varepsilon = (1-\beta_1)/\gamma`; so :math:`\varepsilon\gamma = 1 - \beta_1 \le 1`.
    Lion's :math:`\eta = 0.01`, betas (0.9, 0.99): :math:`\alpha = \gamma = 1`,
    :math:`\varepsilon = 0.1`.
    """
    gamma = (1 - betas[1]) / lr
    return {"alpha": gamma, "gamma": gamma, "eps": (1 - betas[0]) / gamma, "lam": weight_decay}


#: The default f of a named energy's flow: f = ½(x − x*)ᵀA(x − x*), A SPD, x* outside the box.
A2 = sp.Matrix([[sp.Rational(3, 2), sp.Rational(1, 2)], [sp.Rational(1, 2), 1]])
CENTER2 = (sp.Integer(2), sp.Rational(-3, 2))


@dataclass(frozen=True)
class Flow:
    r"""The Lion-K ODE and the paper's :math:`H` for one per-particle energy (``energy``;
    ``"generic"``: undefined :math:`f`, :math:`K`, :math:`K^*`), symbolically.

    ``dHdt`` is :math:`\nabla_x H\cdot\dot x + \nabla_m H\cdot\dot m` (SymPy's derivatives of
    ``H``), its two summands ``parts``; ``delta`` is the paper's :math:`\Delta` (module
    docstring), written from its own formula, not from ``dHdt``. ``symbols`` maps
    ``"alpha"``, ``"gamma"``, ``"eps"``, ``"lam"`` to the hyperparameter symbols.
    """

    energy: str
    x: tuple[sp.Symbol, ...]
    m: tuple[sp.Symbol, ...]
    symbols: Mapping[str, sp.Symbol]
    H: sp.Expr
    dHdt: sp.Expr
    parts: tuple[sp.Expr, sp.Expr]
    delta: sp.Expr

    def numpy(self, expr: sp.Expr, values: Mapping[str, float]) -> Callable[..., np.ndarray]:
        """``expr`` at the hyperparameters ``values`` as a NumPy function of
        ``(x, m)``, arrays of shape ``(..., n)``."""
        subs = {self.symbols[k]: sp.Float(v) for k, v in values.items()}
        fn = sp.lambdify(self.x + self.m, expr.xreplace(subs), "numpy")
        n = len(self.x)

        def call(x: np.ndarray, m: np.ndarray) -> np.ndarray:
            cols = [x[..., i] for i in range(n)] + [m[..., i] for i in range(n)]
            out = np.asarray(fn(*cols), dtype=float)
            return np.broadcast_to(out, np.shape(x)[:-1])

        return call


def lyapunov(
    name: str | None = None,
    a: sp.Matrix | None = None,
    center: Sequence[sp.Expr] | None = None,
    *,
    cross: bool = True,
) -> Flow:
    r"""The paper's :math:`H` and its time derivative along the Lion-K ODE (module docstring).

    ``name``: the library energy whose :math:`K` (and :math:`K^*` from :func:`conjugate`) to
    use; ``None``: :math:`K`, :math:`K^*` and :math:`f` are undefined SymPy functions of two
    coordinates (the identity :math:`dH/dt = -\Delta` is then checked for every one).
    ``a`` and ``center`` give :math:`f(x) = \tfrac12(x - x^\star)^\top A(x - x^\star)`;
    the default for a named energy is :data:`A2`, :data:`CENTER2`. ``cross=False`` drops the
    term :math:`\tfrac{1-\varepsilon\gamma}{1+\varepsilon\lambda}(K^*(\lambda x) + K(m) -
    \lambda m^\top x)`: a wrong :math:`H`, the negative control.
    """
    alpha, gamma, lam, eps = sp.symbols("alpha gamma lambda epsilon", positive=True)
    if name is None:
        K, Ks = sp.Function("K"), sp.Function("K^*")
        x = tuple(sp.Symbol(f"x_{i}", real=True) for i in (1, 2))
        f = sp.Function("f")(*x)
        grad = [sp.diff(f, xi) for xi in x]
    else:
        k, p = energy_expr(name)
        conj = conjugate(name)

        def K(arg: sp.Expr) -> sp.Expr:
            return k.xreplace({p: arg})

        def Ks(arg: sp.Expr) -> sp.Expr:
            return conj.value.xreplace({conj.y: arg})

        a = A2 if a is None else a
        center = CENTER2 if center is None else center
        x = tuple(sp.Symbol(f"x_{i}", real=True) for i in range(1, a.rows + 1))
        d = sp.Matrix(x) - sp.Matrix(list(center))
        f = (d.T * a * d)[0, 0] / 2
        grad = list(a * d)
    m = tuple(sp.Symbol(f"m_{i}", real=True) for i in range(1, len(x) + 1))
    pt = sp.Dummy("p", real=True)

    def dK(arg: sp.Expr) -> sp.Expr:
        return sp.Subs(sp.diff(K(pt), pt), pt, arg).doit()

    def dKs(xi: sp.Symbol) -> sp.Expr:
        return sp.diff(Ks(lam * xi), xi) / lam

    c = (1 - eps * gamma) / (1 + eps * lam)
    kstar = sum(Ks(lam * xi) for xi in x)
    fenchel = (
        kstar + sum(K(mi) for mi in m) - lam * sum(mi * xi for mi, xi in zip(m, x, strict=True))
    )
    H = alpha * f + gamma / lam * kstar + (c * fenchel if cross else 0)
    mdot = [-alpha * g - gamma * mi for g, mi in zip(grad, m, strict=True)]
    mt = [mi + eps * v for mi, v in zip(m, mdot, strict=True)]
    xdot = [dK(mti) - lam * xi for mti, xi in zip(mt, x, strict=True)]
    px = sum(sp.diff(H, xi) * v for xi, v in zip(x, xdot, strict=True))
    pm = sum(sp.diff(H, mi) * v for mi, v in zip(m, mdot, strict=True))
    delta = (1 - eps * gamma) / (eps * (1 + eps * lam)) * sum(
        (mti - mi) * (dK(mti) - dK(mi)) for mti, mi in zip(mt, m, strict=True)
    ) + (gamma + lam) / (1 + eps * lam) * sum(
        (mti - dKs(xi)) * (dK(mti) - lam * xi) for mti, xi in zip(mt, x, strict=True)
    )
    symbols = {"alpha": alpha, "gamma": gamma, "eps": eps, "lam": lam}
    return Flow(name or "generic", x, m, symbols, H, px + pm, (px, pm), delta)


@dataclass(frozen=True)
class Decision:
    r"""What SymPy decided about :math:`dH/dt \le 0` for one energy (``None``: undecided).

    ``identity``: :math:`dH/dt + \Delta \equiv 0` (:func:`identity`, for every :math:`f`,
    :math:`K`, :math:`K^*`). ``convex``: :math:`K''(p) \ge 0` (``second`` is :math:`K''` in
    ``p``; on :math:`p > 0` only if ``positive_only``, with :math:`K'` odd and continuous at
    0), so :math:`(a-b)(K'(a)-K'(b)) = (a-b)^2\int_0^1 K''(b + s(a-b))\,ds \ge 0`.
    ``inverse``: :math:`K'((K^*)'(y)) = y` for :math:`0 < y <` the bound of
    :math:`\operatorname{dom} K^*` (and so for :math:`-y`, both being odd): with
    :math:`u = (K^*)'(\lambda x)`, :math:`\lambda x = K'(u)` and the second term of
    :math:`\Delta` is :math:`(\tilde m - u)(K'(\tilde m) - K'(u)) \ge 0` too. All three, with
    :math:`\varepsilon\gamma \le 1`, give :math:`dH/dt = -\Delta \le 0`.
    """

    energy: str
    identity: bool
    convex: bool | None
    inverse: bool | None
    second: sp.Expr
    positive_only: bool = False

    @property
    def decided(self) -> bool:
        return self.identity and self.convex is True and self.inverse is True


def _zero(expr: sp.Expr) -> bool:
    expanded = sp.expand(expr)
    return expanded == 0 or sp.cancel(sp.together(expanded)) == 0 or sp.simplify(expr) == 0


def _tidy(expr: sp.Expr) -> sp.Expr:
    r"""``simplify`` after writing hyperbolic functions as exponentials and factoring the
    bases of fractional powers (so that SymPy sees :math:`\sqrt{q^2 + 2q + 1} = q + 1`)."""
    expr = expr.rewrite(sp.exp).replace(
        lambda e: e.is_Pow and not e.exp.is_Integer, lambda e: sp.Pow(sp.factor(e.base), e.exp)
    )
    return sp.simplify(expr)


@functools.cache
def identity(cross: bool = True) -> bool:
    r"""SymPy: :math:`dH/dt + \Delta \equiv 0` along the ODE for undefined :math:`f`,
    :math:`K`, :math:`K^*` (``lyapunov(None, cross=cross)``), hence for every choice of them."""
    flow = lyapunov(None, cross=cross)
    return _zero(flow.dHdt + flow.delta)


def decide(name: str) -> Decision:
    r"""Let SymPy decide each step of :math:`dH/dt = -\Delta \le 0` for the library energy
    ``name`` (:class:`Decision`).

    Convexity is decided on the real line, else on :math:`p > 0` with :math:`K'` odd and
    continuous at 0 (:math:`|p|^a/a`, whose :math:`K''` carries a ``DiracDelta`` at 0 that
    SymPy cannot sign). :math:`|p|` stays undecided: :math:`K' = \mathrm{sign}` is monotone,
    but :math:`K^*` is an indicator, :math:`(K^*)' = 0` inside the box and
    :math:`\lambda x \ne K'(0)`, only :math:`\lambda x \in \partial K(0) = [-1, 1]`.
    """
    k, p = energy_expr(name)
    q = sp.Symbol("q", positive=True)
    dk = sp.diff(k, p)
    second = sp.simplify(sp.diff(k, p, 2))
    convex, positive_only = second.is_nonnegative, False
    if convex is None:
        on_positive = sp.simplify(sp.diff(k.xreplace({p: q}), q, 2))
        odd = _zero(dk.xreplace({p: -q}) + dk.xreplace({p: q}))
        continuous = sp.limit(dk.xreplace({p: q}), q, 0, "+") == dk.xreplace({p: 0})
        if on_positive.is_nonnegative and odd and continuous:
            convex, positive_only = True, True
            second = on_positive.xreplace({q: sp.Symbol(p.name, positive=True)})
    conj = conjugate(name)
    dks = sp.diff(conj.value, conj.y)
    inside = conj.bound * q / (1 + q) if conj.bound.is_finite else q  # 0 < y < bound
    u = _tidy(dks.xreplace({conj.y: inside}))  # (K*)'(y)
    inverse = _tidy(dk.xreplace({p: u}) - inside) == 0 or None
    return Decision(name, identity(), convex, inverse, second, positive_only)


@dataclass(frozen=True)
class Sampled:
    """:math:`dH/dt` on a grid: its largest value, and the largest of :math:`dH/dt` over the
    size of its two summands :math:`|\\nabla_x H\\cdot\\dot x| + |\\nabla_m H\\cdot\\dot m|`."""

    points: int
    largest: float
    relative: float
    magnitude: float  # the largest |value| over the summands' size


def largest_rate(
    flow: Flow,
    values: Mapping[str, float],
    x_range: tuple[float, float],
    m_range: tuple[float, float],
    per_axis: int,
    expr: sp.Expr | None = None,
) -> Sampled:
    """:math:`dH/dt` (or ``expr``) at the hyperparameters ``values`` on the tensor grid of
    ``per_axis`` points on each coordinate of ``x`` (``x_range``) and ``m`` (``m_range``)."""
    n = len(flow.x)
    axes = [np.linspace(*x_range, per_axis)] * n + [np.linspace(*m_range, per_axis)] * n
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2 * n)
    x, m = grid[:, :n], grid[:, n:]
    rate = flow.numpy(flow.dHdt if expr is None else expr, values)(x, m)
    scale = sum(np.abs(flow.numpy(e, values)(x, m)) for e in flow.parts)
    rel = rate / np.maximum(scale, np.finfo(float).tiny)
    return Sampled(grid.shape[0], float(np.max(rate)), float(np.max(rel)), float(np.max(abs(rel))))


def iterates(
    name: str,
    grad: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lrs: np.ndarray,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.99),
) -> tuple[np.ndarray, np.ndarray]:
    """``(x_k, m_k)``, k = 0 … len(lrs), of the generated Lion-K from ``x0`` and ``m_0 = 0``
    with the step sizes ``lrs`` (one per step); ``m`` with the paper's sign (``-exp_avg``)."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = derived(name)([x], lr=float(lrs[0]), betas=betas, weight_decay=weight_decay)
    xs = np.empty((lrs.size + 1, x.numel()))
    ms = np.zeros_like(xs)
    xs[0] = x0
    for k, lr in enumerate(lrs):
        opt.param_groups[0]["lr"] = float(lr)
        x.grad = torch.as_tensor(grad(x.detach().numpy()))
        opt.step()
        xs[k + 1] = x.detach().numpy()
        ms[k + 1] = -opt.state[x]["exp_avg"].numpy()
    return xs, ms


def run(
    name: str,
    grad: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lrs: np.ndarray,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.99),
) -> np.ndarray:
    """x_k, k = 1 … len(lrs), of the generated Lion-K from x0 with the step sizes ``lrs``."""
    return iterates(name, grad, x0, lrs, weight_decay, betas)[0][1:]
