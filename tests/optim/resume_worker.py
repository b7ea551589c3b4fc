"""The resumed half of the exact-resume test (``tests/optim/test_resume.py``), run as a script.

For every case of :data:`CASES` in every setting of :data:`SETTINGS` the test process trains a
small two-group network for :data:`SAVE_AT` steps, saves the model's and the optimizer's
``state_dict``, and goes on to :data:`STEPS`. This fresh process builds a fresh network (other
initial values) and a fresh optimizer, loads both checkpoints and trains the remaining steps;
the test compares the final parameters bit for bit.

Usage: ``python resume_worker.py CHECKPOINTS OUT_FILE``.
"""

from __future__ import annotations

import sys

import torch

#: (optimizer, constructor arguments): every zoo optimizer and the variants with a state of
#: their own (RAD's annealed ζ, which crosses the save point; NAdam's μ product; AMSGrad's max).
CASES: tuple[tuple[str, dict], ...] = (
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True)),
    ("DLPF", dict(lr=0.05, momentum=0.9)),
    ("NAG", dict(lr=0.05, momentum=0.9)),
    ("RGD", dict(lr=0.05, momentum=0.9, delta=2.0)),
    ("RGD", dict(lr=0.05, momentum=0.8, delta=1.0, order=2)),
    ("RAD", dict(lr=1e-2, order=2, delta=2.0)),
    ("RAD", dict(lr=1e-2, zeta=None, max_iter=10)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=1e-2)),
    ("Adamax", dict(lr=1e-2)),
    ("NAdam", dict(lr=2e-3)),
    ("NAdam", dict(lr=2e-3, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=1e-2)),
    ("Apollo", dict(lr=1e-2, warmup=3)),
    ("Lion", dict(lr=1e-3, decoupled_weight_decay=True)),
)
#: (parameter dtype, default dtype): the default sets the dtype of NAdam's scalar state.
SETTINGS: tuple[tuple[torch.dtype, torch.dtype], ...] = (
    (torch.float32, torch.float32),
    (torch.float64, torch.float64),
    (torch.float32, torch.float64),
)
SAVE_AT, STEPS = 6, 12


def key(case: int, dtype: torch.dtype, default: torch.dtype, foreach: bool) -> str:
    return f"{case}-{dtype}-{default}-{'foreach' if foreach else 'single'}"


def keys():
    """``(key, case index, parameter dtype, default dtype, foreach)`` of every run."""
    for case in range(len(CASES)):
        for dtype, default in SETTINGS:
            for foreach in (False, True):
                yield key(case, dtype, default, foreach), case, dtype, default, foreach


def build(case: int, dtype: torch.dtype, foreach: bool, seed: int):
    """A small network (its biases a second param group without weight decay) and its optimizer."""
    import hamopt.optim

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    net = net.to(dtype)
    name, kwargs = CASES[case]
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    groups = [{"params": weights}, {"params": biases, "weight_decay": 0.0}]
    opt = getattr(hamopt.optim, name)(groups, foreach=foreach, weight_decay=0.01, **kwargs)
    return net, opt


def train(net, opt, start: int, stop: int) -> None:
    """Steps ``start..stop-1``, each on its own batch (a function of the step only)."""
    dtype = next(net.parameters()).dtype
    for t in range(start, stop):
        gen = torch.Generator().manual_seed(1000 + t)
        x = torch.randn(16, 4, generator=gen).to(dtype)
        y = torch.randn(16, 2, generator=gen).to(dtype)
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()


def resume(checkpoints: dict) -> dict:
    """Every run continued from its checkpoint: the final parameters by key."""
    out = {}
    for k, case, dtype, default, foreach in keys():
        torch.set_default_dtype(default)
        net, opt = build(case, dtype, foreach, seed=1)
        net.load_state_dict(checkpoints[k]["model"])
        opt.load_state_dict(checkpoints[k]["optimizer"])
        train(net, opt, SAVE_AT, STEPS)
        out[k] = [p.detach().clone() for p in net.parameters()]
    return out


if __name__ == "__main__":
    torch.save(resume(torch.load(sys.argv[1])), sys.argv[2])
