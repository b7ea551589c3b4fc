r"""TD3 on gymnasium's MuJoCo tasks: paired runs that differ only in the optimizer.

TD3 (Fujimoto, van Hoof, Meger, *Addressing Function Approximation Error in Actor-Critic
Methods*, ICML 2018), in its standard form:

* a deterministic actor :math:`\pi_\phi` and twin critics :math:`Q_{w_1}, Q_{w_2}`, each an MLP
  with two hidden layers of 256 ReLU units (``torch.nn.Linear``'s initialisation), with target
  copies updated by Polyak averaging :math:`\bar w \leftarrow \tau w + (1 - \tau)\bar w`,
  :math:`\tau = 0.005`;
* exploration :math:`a = \text{clip}(\pi_\phi(s) + \mathcal N(0, (0.1\,a_{\max})^2))`, after
  ``start_steps`` steps of uniformly random actions;
* clipped double-Q targets with target-policy smoothing:
  :math:`y = r + \gamma(1 - d)\min_i Q_{\bar w_i}(s', \text{clip}(\pi_{\bar\phi}(s') + \text{clip}(\epsilon, -0.5, 0.5)))`,
  :math:`\epsilon \sim \mathcal N(0, 0.2^2)`, :math:`\gamma = 0.99`;
* one critic update (mean squared error of both critics, minibatch 256 from a uniform replay
  buffer) per environment step, the actor (maximising :math:`Q_{w_1}(s, \pi_\phi(s))`) and the
  targets every second one.

**Pairing.** A run is an (optimizer, seed) pair. Every source of randomness is seeded from the
seed alone: the initial weights (``torch.manual_seed``), the environment (``reset(seed=…)`` at the
first reset), its action space (random warm-up actions), and one NumPy generator for the
exploration noise and the minibatch indices; the evaluation environment is seeded with
``seed + 10_000``. Two runs with the same seed therefore share their initial networks and, up to
the first update, their whole trajectory: the optimizer is the only thing that differs.

**Logs.** After every evaluation a run appends one JSON line (environment step, mean evaluation
return, wall time) to ``<out>/<env>/<optimizer>-seed<seed>.jsonl``; the first line holds the
configuration and the last one ``"done": true``. An interrupted batch keeps its finished runs,
and :func:`run_all` skips runs whose log is complete.

Command line (from the repository root)::

    .venv/bin/python papers/rad/td3.py --env HalfCheetah-v5 --steps 100000 --seeds 5 --workers 2

"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["OPTIMIZERS", "TD3Config", "load_log", "run_all", "train"]

HERE = Path(__file__).resolve().parent
#: Where the committed per-run logs live.
RUNS = HERE / "runs" / "td3"

OptimizerFactory = Callable[[list[torch.Tensor], int], torch.optim.Optimizer]


def _adam(params: list[torch.Tensor], updates: int, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr)


def _rad(params: list[torch.Tensor], updates: int, lr: float) -> torch.optim.Optimizer:
    from hamopt.optim import RAD

    # δ at its default; ζ annealed from 1e-16 to 1 over the optimizer's own updates
    return RAD(params, lr=lr, zeta=None, max_iter=updates)


#: The optimizers of the comparison: name → factory(params, number of updates, lr).
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"Adam": _adam, "RAD": _rad}


@dataclass(frozen=True)
class TD3Config:
    """TD3's hyperparameters (Fujimoto et al., 2018) and the run's budget."""

    env: str = "HalfCheetah-v5"
    steps: int = 100_000  # environment steps per run
    start_steps: int = 10_000  # uniformly random actions first (the TD3 paper's HalfCheetah value)
    eval_every: int = 5_000
    eval_episodes: int = 10
    lr: float = 3e-4  # actor and critic, for every optimizer
    hidden: int = 256
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    expl_noise: float = 0.1
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "eval_episodes", "hidden", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.start_steps < self.steps:
            raise ValueError(
                f"start_steps must lie in [0, steps = {self.steps}), got {self.start_steps}"
            )
        if self.start_steps < self.batch_size:
            raise ValueError("start_steps must be at least batch_size (the first minibatch)")
        if not (0 < self.gamma < 1 and 0 < self.tau <= 1):
            raise ValueError("need 0 < gamma < 1 and 0 < tau <= 1")

    @property
    def critic_updates(self) -> int:
        """Critic updates per run (RAD's ``max_iter`` for the critic)."""
        return self.steps - self.start_steps

    @property
    def actor_updates(self) -> int:
        """Actor updates per run (RAD's ``max_iter`` for the actor)."""
        return self.critic_updates // self.policy_delay


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


class _Actor(nn.Module):
    def __init__(self, obs: int, act: int, hidden: int, scale: float) -> None:
        super().__init__()
        self.net, self.scale = _mlp(obs, hidden, act), scale

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.tanh(self.net(s))


class _Critics(nn.Module):
    def __init__(self, obs: int, act: int, hidden: int) -> None:
        super().__init__()
        self.q1, self.q2 = _mlp(obs + act, hidden, 1), _mlp(obs + act, hidden, 1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([s, a], dim=1)
        return self.q1(sa), self.q2(sa)


@dataclass
class _Replay:
    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray = field(init=False)
    nxt: np.ndarray = field(init=False)
    done: np.ndarray = field(init=False)
    size: int = 0

    def __post_init__(self) -> None:
        n = self.obs.shape[0]
        self.rew, self.done = np.zeros((n, 1), np.float32), np.zeros((n, 1), np.float32)
        self.nxt = np.zeros_like(self.obs)

    def add(self, s, a, r, s2, terminated) -> None:
        i = self.size
        self.obs[i], self.act[i], self.rew[i], self.nxt[i], self.done[i] = s, a, r, s2, terminated
        self.size += 1

    def sample(self, rng: np.random.Generator, n: int) -> list[torch.Tensor]:
        idx = rng.integers(0, self.size, size=n)
        return [
            torch.from_numpy(x[idx]) for x in (self.obs, self.act, self.rew, self.nxt, self.done)
        ]


def _evaluate(env, actor: _Actor, episodes: int) -> float:
    returns = []
    for _ in range(episodes):
        s, _ = env.reset()
        total, over = 0.0, False
        while not over:
            with torch.no_grad():
                a = actor(torch.as_tensor(s, dtype=torch.float32)[None])[0].numpy()
            s, r, terminated, truncated, _ = env.step(a)
            total += float(r)
            over = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def log_path(out: Path, config: TD3Config, name: str, seed: int) -> Path:
    """The JSON-lines log of one run."""
    return Path(out) / config.env / f"{name}-seed{seed}.jsonl"


def train(
    name: str,
    seed: int,
    config: TD3Config,
    out: Path | None = None,
    optimizers: dict[str, Callable[..., torch.optim.Optimizer]] | None = None,
) -> list[dict]:
    """Train one TD3 run with optimizer ``name``; return its evaluation rows (see the module
    docstring), appending each to the run's log under ``out`` as it is measured."""
    import gymnasium as gym

    factories = OPTIMIZERS if optimizers is None else optimizers
    if name not in factories:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(factories)}")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    env, eval_env = gym.make(config.env), gym.make(config.env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    a_max = float(env.action_space.high[0])
    agent = _Agent.build(obs_dim, act_dim, a_max, config, factories[name])
    actor = agent.actor

    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    s, _ = env.reset(seed=seed)
    eval_env.reset(seed=seed + 10_000)
    replay = _Replay(
        np.zeros((config.steps, obs_dim), np.float32), np.zeros((config.steps, act_dim), np.float32)
    )
    path = None if out is None else log_path(out, config, name, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "optimizer": name,
            "seed": seed,
            "config": asdict(config),
            "torch": torch.__version__,
        }
        path.write_text(json.dumps(header) + "\n")
    rows: list[dict] = []
    start, updates = time.perf_counter(), 0
    for t in range(1, config.steps + 1):
        if t <= config.start_steps:
            a = env.action_space.sample()
        else:
            with torch.no_grad():
                a = actor(torch.as_tensor(s, dtype=torch.float32)[None])[0].numpy()
            a = np.clip(a + rng.normal(0.0, config.expl_noise * a_max, act_dim), -a_max, a_max)
        s2, r, terminated, truncated, _ = env.step(a)
        replay.add(s, a, r, s2, float(terminated))
        s = s2
        if terminated or truncated:
            s, _ = env.reset()
        if t > config.start_steps:
            updates += 1
            agent.update(config, updates, replay.sample(rng, config.batch_size))
        if t % config.eval_every == 0 or t == config.steps:
            row = {
                "step": t,
                "return": _evaluate(eval_env, actor, config.eval_episodes),
                "wall": round(time.perf_counter() - start, 2),
            }
            rows.append(row)
            if path is not None:
                with path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    if path is not None:
        with path.open("a") as f:
            f.write(
                json.dumps({"done": True, "wall": round(time.perf_counter() - start, 2)}) + "\n"
            )
    return rows


@dataclass
class _Agent:
    """The networks, their target copies and their two optimizers."""

    actor: _Actor
    critics: _Critics
    actor_target: _Actor
    critics_target: _Critics
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer
    a_max: float

    @classmethod
    def build(cls, obs: int, act: int, a_max: float, config: TD3Config, make) -> _Agent:
        """Networks in this order (so a seed gives every optimizer the same initial weights),
        then ``make(params, updates, lr)`` for the actor and for the critics."""
        actor = _Actor(obs, act, config.hidden, a_max)
        critics = _Critics(obs, act, config.hidden)
        actor_target, critics_target = copy.deepcopy(actor), copy.deepcopy(critics)
        for p in (*actor_target.parameters(), *critics_target.parameters()):
            p.requires_grad_(False)
        actor_opt = make(list(actor.parameters()), config.actor_updates, config.lr)
        critic_opt = make(list(critics.parameters()), config.critic_updates, config.lr)
        return cls(actor, critics, actor_target, critics_target, actor_opt, critic_opt, a_max)

    def update(self, config: TD3Config, k: int, batch: list[torch.Tensor]) -> None:
        """The k-th TD3 update: critics every time; actor and targets every ``policy_delay``."""
        s, a, r, s2, d = batch
        with torch.no_grad():
            noise = (torch.randn_like(a) * config.policy_noise).clamp(
                -config.noise_clip, config.noise_clip
            )
            a2 = (self.actor_target(s2) + noise * self.a_max).clamp(-self.a_max, self.a_max)
            q1_t, q2_t = self.critics_target(s2, a2)
            y = r + config.gamma * (1 - d) * torch.min(q1_t, q2_t)
        q1, q2 = self.critics(s, a)
        critic_loss = nn.functional.mse_loss(q1, y) + nn.functional.mse_loss(q2, y)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        if k % config.policy_delay:
            return
        critic_params = list(self.critics.parameters())
        for p in critic_params:  # the actor's loss needs no gradient of the critics' weights
            p.requires_grad_(False)
        actor_loss = -self.critics.q1(torch.cat([s, self.actor(s)], dim=1)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        for p in critic_params:
            p.requires_grad_(True)
        with torch.no_grad():
            for net, target in (
                (self.actor, self.actor_target),
                (self.critics, self.critics_target),
            ):
                torch._foreach_lerp_(list(target.parameters()), list(net.parameters()), config.tau)


def load_log(path: Path) -> dict:
    """A run's log as ``{"config", "optimizer", "seed", "steps", "returns", "done", "wall"}``."""
    lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    if not lines or "config" not in lines[0]:
        raise ValueError(f"{path}: not a TD3 log (no header line)")
    head, rows = lines[0], [x for x in lines[1:] if "step" in x]
    end = [x for x in lines[1:] if x.get("done")]
    return {
        "config": TD3Config(**head["config"]),
        "optimizer": head["optimizer"],
        "seed": int(head["seed"]),
        "steps": np.array([x["step"] for x in rows], dtype=int),
        "returns": np.array([x["return"] for x in rows], dtype=float),
        "done": bool(end),
        "wall": float(end[-1]["wall"]) if end else (rows[-1]["wall"] if rows else 0.0),
    }


def _job(args: tuple) -> tuple[str, int, float]:
    name, seed, config, out = args
    t0 = time.perf_counter()
    train(name, seed, config, out)
    return name, seed, time.perf_counter() - t0


def run_all(
    config: TD3Config,
    seeds: Sequence[int],
    names: Sequence[str] = ("Adam", "RAD"),
    out: Path = RUNS,
    workers: int = 2,
) -> None:
    """Every (optimizer, seed) run whose log under ``out`` is not complete, pairs first (both
    optimizers of a seed before the next seed), on ``workers`` processes."""
    import multiprocessing as mp

    jobs = []
    for seed in seeds:
        for name in names:
            path = log_path(out, config, name, seed)
            if path.exists():
                log = load_log(path)
                if log["done"] and log["config"] == config:
                    continue
            jobs.append((name, int(seed), config, Path(out)))
    if not jobs:
        return
    if workers <= 1:
        for job in jobs:
            print("[td3] %s seed %d: %.0f s" % _job(job), flush=True)
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        for result in pool.imap_unordered(_job, jobs):
            print("[td3] %s seed %d: %.0f s" % result, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--start-steps", type=int, default=10_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 … N-1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RUNS)
    args = parser.parse_args(argv)
    config = TD3Config(
        env=args.env, steps=args.steps, start_steps=args.start_steps, eval_every=args.eval_every
    )
    run_all(config, range(args.seeds), out=args.out, workers=args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
