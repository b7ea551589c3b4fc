"""The generated Apollo against an oracle of the official rule, and its weak secant equation.

The oracle (:class:`ApolloOracle`) is the official XuezheMax/apollo step as
``shared/reference/OPTIMIZERS.md`` states it, in plain torch (in-place ops in the reference's
order). Float64, the MLP of ``conftest.py``, 200 steps; largest relative parameter
difference <= 1e-10 (foreach == single tensor to 1e-12).

Apollo is chaotic on this problem in part of its range (the belief rebound at the reference's
default ε, large steps): there a 1e-15 change of the initial weights changes the reference's own
200-step result by 1e-2 or more, so no code that rounds differently from it (fused multiply-adds,
another operation order) can agree to 1e-10 end to end. Those settings (:data:`CHAOTIC`) are
checked step by step along the reference's trajectory instead, to 1e-12; the end-to-end bound is
checked on :data:`SETTINGS`, where the trajectory is stable, with both rebounds and all three
weight-decay types.
"""

import math

import pytest
import torch

from hamopt.optim import Apollo

TOLERANCE = 1e-10


class ApolloOracle(torch.optim.Optimizer):
    """Apollo (Ma, arXiv 2009.13586) as the official code computes it, per parameter tensor."""

    def __init__(
        self,
        params,
        lr,
        beta=0.9,
        eps=1e-4,
        rebound="constant",
        warmup=500,
        init_lr=None,
        weight_decay=0,
        weight_decay_type=None,
    ):
        if rebound not in ("constant", "belief"):
            raise ValueError(rebound)
        if weight_decay_type is None:
            weight_decay_type = "L2" if rebound == "constant" else "decoupled"
        if weight_decay_type not in ("L2", "decoupled", "stable"):
            raise ValueError(weight_decay_type)
        if init_lr is None:
            init_lr = lr / 1000
        defaults = dict(
            lr=lr,
            beta=beta,
            eps=eps,
            rebound=rebound,
            warmup=warmup,
            init_lr=init_lr,
            base_lr=lr,
            weight_decay=weight_decay,
            weight_decay_type=weight_decay_type,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg_grad"] = torch.zeros_like(p)
                    state["approx_hessian"] = torch.zeros_like(p)
                    state["update"] = torch.zeros_like(p)
                # warm-up on the count before the step
                if state["step"] < group["warmup"]:
                    lr_t = (group["base_lr"] - group["init_lr"]) * state["step"] / group[
                        "warmup"
                    ] + group["init_lr"]
                else:
                    lr_t = group["lr"]
                grad = p.grad
                wd, wd_type = group["weight_decay"], group["weight_decay_type"]
                if wd != 0 and wd_type == "L2":
                    grad = grad.add(p, alpha=wd)
                beta, eps = group["beta"], group["eps"]
                m, B, d = state["exp_avg_grad"], state["approx_hessian"], state["update"]
                state["step"] += 1
                alpha = (1 - beta) / (1 - beta ** state["step"])
                delta_grad = grad - m
                if group["rebound"] == "belief":
                    rebound = delta_grad.norm(p=math.inf)
                else:
                    rebound = 0.01
                    eps = eps / rebound
                m.add_(delta_grad, alpha=alpha)
                scale = d.norm(p=4).add(eps)
                d.div_(scale)
                v_sq = d.mul(d)
                delta = delta_grad.div_(scale).mul_(d).sum().mul(-alpha) - B.mul(v_sq).sum()
                B.addcmul_(v_sq, delta)
                if group["rebound"] == "belief":
                    denom = torch.max(B.abs(), rebound).add_(eps / alpha)
                else:
                    denom = B.abs().clamp_(min=rebound)
                d.copy_(m.div(denom))
                if wd != 0 and wd_type != "L2":
                    decay = wd / denom.mean().item() if wd_type == "stable" else wd
                    d.add_(p, alpha=decay)
                p.add_(d, alpha=-lr_t)


#: Settings whose 200-step trajectory is not chaotic: scaling the initial weights by 1 + 1e-15
#: moves the oracle's own result by <= 1e-13, so the 1e-10 bound measures the rule.
SETTINGS = [
    dict(lr=0.01),  # every default: constant rebound, 'L2', 200 steps inside the warm-up
    dict(lr=0.01, weight_decay=0.01),  # constant, L2
    dict(lr=0.01, weight_decay=0.05, weight_decay_type="decoupled"),
    dict(lr=3e-3, warmup=20, weight_decay=0.05, weight_decay_type="stable"),
    dict(
        lr=1e-3, warmup=20, init_lr=1e-4, beta=0.8, weight_decay=0.05, weight_decay_type="decoupled"
    ),
    dict(lr=0.03, rebound="belief", eps=1e-2, warmup=20, weight_decay=0.05),  # decoupled
    dict(lr=0.03, rebound="belief", eps=1e-2, warmup=20, weight_decay=0.01, weight_decay_type="L2"),
    dict(
        lr=0.03,
        rebound="belief",
        eps=1e-2,
        warmup=20,
        weight_decay=0.05,
        weight_decay_type="stable",
    ),
    dict(lr=0.01, rebound="belief", eps=1e-3, weight_decay=0.05),
]
IDS = [f"setting{i}" for i in range(len(SETTINGS))]

#: Settings where the reference itself is chaotic on this problem (e.g. the belief rebound at
#: the default ε): scaling the initial weights by 1 + 1e-15 changes the oracle's 200-step
#: result by 1e-2 or more, so no implementation that rounds differently can meet 1e-10 end to
#: end. They are checked step by step (:func:`test_one_step_map_on_chaotic_runs`).
CHAOTIC = [
    dict(lr=0.01, rebound="belief", warmup=10, weight_decay=0.05),
    dict(
        lr=5e-3,
        rebound="belief",
        warmup=0,
        beta=0.8,
        eps=1e-6,
        weight_decay=0.1,
        weight_decay_type="stable",
    ),
    dict(lr=0.01, rebound="belief", eps=1e-3, warmup=20, weight_decay=0.01, weight_decay_type="L2"),
    dict(lr=0.01, warmup=20, weight_decay=0.01),
    dict(lr=0.03, warmup=20, weight_decay=0.05, weight_decay_type="stable"),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_matches_oracle(settings, train, relative_difference):
    expected = train(ApolloOracle, **settings)
    got = train(Apollo, **settings)
    initial = train(Apollo, steps=0, **settings)
    assert relative_difference(initial, expected) > 0.5  # the run goes somewhere
    assert relative_difference(expected, got) <= TOLERANCE


@pytest.mark.parametrize(
    "settings", SETTINGS + CHAOTIC, ids=IDS + [f"chaotic{i}" for i in range(len(CHAOTIC))]
)
def test_foreach_equals_single_tensor(settings, train, relative_difference):
    single = train(Apollo, steps=50, foreach=False, **settings)
    lists = train(Apollo, steps=50, foreach=True, **settings)
    assert relative_difference(single, lists) <= 1e-12


BUFFERS = ("exp_avg_grad", "approx_hessian", "update")


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("settings", CHAOTIC, ids=[f"chaotic{i}" for i in range(len(CHAOTIC))])
def test_one_step_map_on_chaotic_runs(settings, foreach, mlp):
    """Along the oracle's 200-step trajectory, one generated step from the oracle's state
    (parameters, gradient, the three buffers, step count) equals one oracle step to 1e-12,
    relative, in the parameters and in every buffer."""
    net, loss = mlp()
    params = list(net.parameters())
    twins = [p.detach().clone().requires_grad_() for p in params]
    oracle = ApolloOracle(params, **settings)
    generated = Apollo(twins, foreach=foreach, **settings)
    worst = 0.0
    for _ in range(200):
        oracle.zero_grad()
        loss().backward()
        for p, q in zip(params, twins, strict=True):
            q.data.copy_(p.data)
            q.grad = p.grad.clone()
            for name in BUFFERS if oracle.state[p] else ():
                generated.state[q][name].copy_(oracle.state[p][name])
        oracle.step()
        generated.step()
        for p, q in zip(params, twins, strict=True):
            pairs = [(p.detach(), q.detach())]
            pairs += [(oracle.state[p][n], generated.state[q][n]) for n in BUFFERS]
            worst = max(worst, *(float((a - b).abs().max() / a.abs().max()) for a, b in pairs))
    assert worst <= 1e-12


def test_the_reference_is_chaotic_there(train, relative_difference):
    """Why :data:`CHAOTIC` is checked step by step: the oracle against itself from initial
    weights scaled by 1 + 1e-15 differs by more than 1e-3 after 200 steps."""
    settings = CHAOTIC[0]
    expected = train(ApolloOracle, **settings)

    class Perturbed(ApolloOracle):
        def __init__(self, params, **kw):
            params = list(params)
            with torch.no_grad():
                for p in params:
                    p.mul_(1 + 1e-15)
            super().__init__(params, **kw)

    assert relative_difference(expected, train(Perturbed, **settings)) > 1e-3


def test_resolved_defaults_and_validation():
    p = [torch.zeros(2, requires_grad=True)]
    group = Apollo(p, lr=0.3).param_groups[0]
    assert group["init_lr"] == 0.3 / 1000 and group["weight_decay_type"] == "L2"
    assert Apollo(p, lr=0.3, rebound="belief").param_groups[0]["weight_decay_type"] == "decoupled"
    assert Apollo(p, lr=0.3, init_lr=0.1).param_groups[0]["init_lr"] == 0.1
    with pytest.raises(ValueError, match="rebound"):
        Apollo(p, lr=0.3, rebound="other")
    with pytest.raises(ValueError, match="weight_decay_type"):
        Apollo(p, lr=0.3, weight_decay_type="l2")
    with pytest.raises(TypeError, match="lr"):
        Apollo(p)


def _secant_residuals(mlp, steps=200, **settings):
    """Per step and tensor, the relaxed and the plain weak secant residuals (relative)."""
    net, loss = mlp()
    opt = Apollo(net.parameters(), **settings)
    group = opt.param_groups[0]
    eps = group["eps"] / (0.01 if group["rebound"] == "constant" else 1.0)
    relaxed, plain = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        before = {p: {k: v.clone() for k, v in opt.state[p].items()} for p in net.parameters()}
        opt.step()
        for p in net.parameters():
            old, new = before[p], opt.state[p]
            if not old:  # step 1: no previous direction; B stays 0
                assert torch.count_nonzero(new["approx_hessian"]) == 0
                continue
            d = old["update"]
            y_t = new["exp_avg_grad"] - old["exp_avg_grad"]
            curv_new = float((new["approx_hessian"] * d * d).sum())
            curv_old = float((old["approx_hessian"] * d * d).sum())
            target = float(-(d * y_t).sum())  # (-d)ᵀ y
            n4 = float(torch.linalg.vector_norm(d, 4))
            rho = n4**4 / (n4 + eps) ** 4
            scale = max(abs(curv_new), abs(curv_old), abs(target))
            relaxed.append(abs((curv_new - target) - (1 - rho) * (curv_old - target)) / scale)
            plain.append(abs(curv_new - target) / scale)
    return relaxed, plain


SECANT_SETTINGS = [
    dict(lr=0.01, warmup=20, weight_decay=0.1),
    dict(lr=0.01, rebound="belief", warmup=10, weight_decay=0.05, weight_decay_type="stable"),
]


@pytest.mark.parametrize("settings", SECANT_SETTINGS, ids=["constant", "belief"])
def test_weak_secant_equation(settings, mlp):
    r"""The curvature update is the weak secant update of the paper, at every step.

    With :math:`d = d_{t-1}` the previous update direction (the step
    :math:`\theta_t - \theta_{t-1} = -\eta_t d`, step size divided out: the secant step is
    :math:`-d`) and :math:`y_t = m_t - m_{t-1} = a_t\Delta g` the change of the bias-corrected
    gradient average, the weak secant condition is

    .. math:: (-d)^\top B_t (-d) = (-d)^\top y_t, \qquad\text{i.e.}\quad
              d^\top B_t d = -d^\top y_t .

    Apollo's update :math:`B_t = B_{t-1} - (d^\top y_t + d^\top B_{t-1} d)/(\lVert d\rVert_4
    + \epsilon')^4\,\mathrm{Diag}(d^2)` meets it up to :math:`\epsilon'`: exactly,

    .. math:: d^\top B_t d + d^\top y_t = (1-\varrho)(d^\top B_{t-1} d + d^\top y_t), \qquad
              \varrho = \lVert d\rVert_4^4/(\lVert d\rVert_4 + \epsilon')^4 ,

    (:math:`\epsilon' = \epsilon/0.01` for the constant rebound, :math:`\epsilon` for belief).
    Checked at every step and tensor (relative residual <= 1e-10) at the default ε; with a
    negligible ε (:math:`\varrho = 1` to rounding) the plain condition holds to 1e-10.
    """
    relaxed, _ = _secant_residuals(mlp, **settings)
    assert len(relaxed) == 199 * 6
    assert max(relaxed) <= TOLERANCE
    _, plain = _secant_residuals(mlp, **settings, eps=1e-16)
    assert max(plain) <= TOLERANCE


@pytest.mark.parametrize("path", [dict(foreach=False), dict(foreach=True), dict(fused=True)])
def test_a_scheduler_during_the_warm_up_is_read_as_the_reference_reads_it(path):
    """The official warm-up ramps to base_lr, the constructor's lr, and only then reads the
    group's lr, which a scheduler edits: StepLR halving lr every 3 steps through a warm-up of
    5 moved the zoo's step by 0.58 from the reference's, which it now equals."""
    runs = []
    for cls, options in ((ApolloOracle, {}), (Apollo, path)):
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(10, dtype=torch.float64))
        optimizer = cls([p], lr=0.01, warmup=5, **options)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 3, 0.5)
        for _ in range(12):
            optimizer.zero_grad()
            (p**2).sum().backward()
            optimizer.step()
            scheduler.step()
        runs.append(p.detach())
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-12, atol=0)
    assert Apollo([torch.nn.Parameter(torch.ones(1))], lr=0.1).param_groups[0]["base_lr"] == 0.1


def test_an_empty_parameter_steps_alike_on_every_path():
    """The belief rebound reads ‖g - m‖∞, which torch refuses for an empty tensor (the
    single-tensor and foreach paths raised its RuntimeError where the kernel stepped): the
    runtime's max_abs gives 0 there, and every path takes the same steps."""
    runs = []
    for path in (dict(foreach=False), dict(foreach=True), dict(fused=True)):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.empty(0))]
        optimizer = Apollo(params, lr=0.1, warmup=0, rebound="belief", **path)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn_like(p)
            optimizer.step()
        assert optimizer.state[params[1]]["step"] == 3
        runs.append(params[0].detach())
    for run in runs[1:]:
        torch.testing.assert_close(run, runs[0], rtol=1e-6, atol=0)
