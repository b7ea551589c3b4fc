r"""DQN on gymnasium's CartPole-v1, many independent runs trained in lockstep.

One *run* is one (optimizer, seed) pair: its own Q-network, target network, replay buffer,
environment (``env.reset(seed=seed)`` at the first reset, ``env.action_space.seed(seed)``),
NumPy generator (ε-greedy draws, minibatch indices) and initial weights (a ``torch.Generator``
seeded with ``seed``: the same seed gives every optimizer the same initial network and the same
first episode). The runs share nothing else; they are only *computed* together, to make a
small CPU budget go far:

* the Q-networks of all runs are one batched MLP (``torch.baddbmm``), so one forward and one
  backward serve every run; the loss is the sum over runs of each run's mean Huber loss, so the
  gradient of a run's weights is that run's own gradient;
* the weights of the runs of one optimizer are stacked into one tensor per layer and stepped by
  one optimizer instance. This is exact for *elementwise* rules (Adam, RAD, NAdam, Adamax,
  RAdam, …: every coordinate has its own state, and all runs take their steps together), and
  :data:`ELEMENTWISE` lists the zoo members for which it holds. A rule that couples the
  coordinates of a tensor (RGD's norm, Apollo's ‖d‖₄) would mix the runs and is refused.

The DQN is the classic one (Mnih et al., 2015): ε-greedy exploration decaying linearly,
uniform experience replay over every transition of the run, a target network copied every ``target_every`` steps, the Huber
loss on the one-step TD target :math:`r + \gamma(1 - \text{terminated})\max_a Q_{\bar w}(s', a)`,
one gradient step every ``train_every`` environment steps. There is deliberately no gradient
clipping: bounding abnormal gradients is what RAD claims to do itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ELEMENTWISE", "DQNConfig", "Runs", "train"]

#: Zoo optimizers whose update is elementwise (stacking runs into one tensor is exact).
ELEMENTWISE = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RAD", "SGD", "DLPF", "NAG"})

OptimizerFactory = Callable[[list[torch.Tensor], int], torch.optim.Optimizer]


@dataclass(frozen=True)
class DQNConfig:
    """The DQN's budget and hyperparameters (one set for every optimizer)."""

    steps: int = 30_000  # environment steps per run
    learning_starts: int = 1_000  # steps of random play before the first update
    train_every: int = 1  # environment steps per gradient step
    batch_size: int = 64
    gamma: float = 0.99
    hidden: int = 64  # two hidden layers of this width
    target_every: int = 500  # steps between target-network copies
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.2  # share of the steps over which ε decays linearly
    eval_episodes: int = 10  # greedy episodes at the end of training
    window: int = 10  # training episodes averaged for the learning curve

    def __post_init__(self) -> None:
        for name in ("steps", "train_every", "batch_size", "hidden", "target_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.learning_starts < self.steps:
            raise ValueError(
                f"learning_starts must lie in [0, steps = {self.steps}), got {self.learning_starts}"
            )
        if not 0 < self.gamma < 1:
            raise ValueError(f"gamma must lie in (0, 1), got {self.gamma}")
        if not 0 <= self.eps_end <= self.eps_start <= 1:
            raise ValueError("need 0 <= eps_end <= eps_start <= 1")
        if self.eval_episodes < 1 or self.window < 1:
            raise ValueError("eval_episodes and window must be >= 1")

    @property
    def gradient_steps(self) -> int:
        """Gradient steps each run takes (RAD's ``max_iter`` for its ζ schedule)."""
        return len(range(self.learning_starts, self.steps, self.train_every))

    def epsilon(self, t: int) -> float:
        """ε at environment step ``t``: linear from ``eps_start`` to ``eps_end``."""
        frac = min(1.0, t / max(1.0, self.eps_fraction * self.steps))
        return self.eps_start + frac * (self.eps_end - self.eps_start)


@dataclass
class Runs:
    """What the runs produced, indexed ``[optimizer][seed]``."""

    names: list[str]
    seeds: list[int]
    config: DQNConfig
    episodes: list[list[list[tuple[int, float]]]]  # (env step at its end, return)
    evaluation: np.ndarray  # (optimizers, seeds): mean greedy return at the end
    wall_time: float
    threads: int

    def curve(self, edges: np.ndarray) -> np.ndarray:
        """(optimizers, seeds, len(edges)): mean return of the last ``window`` training
        episodes finished by each edge (``nan`` before the first)."""
        out = np.full((len(self.names), len(self.seeds), len(edges)), np.nan)
        for i, per_seed in enumerate(self.episodes):
            for j, eps in enumerate(per_seed):
                ends = np.array([e for e, _ in eps], dtype=float)
                rets = np.array([r for _, r in eps], dtype=float)
                for k, edge in enumerate(edges):
                    done = rets[ends <= edge]
                    if done.size:
                        out[i, j, k] = done[-self.config.window :].mean()
        return out

    def late_training_return(self, share: float = 0.2) -> np.ndarray:
        """(optimizers, seeds): mean return of the training episodes that ended in the last
        ``share`` of the steps."""
        start = (1 - share) * self.config.steps
        out = np.full((len(self.names), len(self.seeds)), np.nan)
        for i, per_seed in enumerate(self.episodes):
            for j, eps in enumerate(per_seed):
                late = [r for e, r in eps if e >= start]
                if late:
                    out[i, j] = float(np.mean(late))
        return out


class _BatchedQ:
    """R copies of a 4-H-H-2 ReLU network as batched weights; ``forward(x)``: x (R, B, 4)."""

    def __init__(self, layers: list[list[torch.Tensor]]) -> None:
        # layers[i] = [W1, b1, W2, b2, W3, b3] of optimizer i, each stacked over its seeds
        self.groups = layers

    def weights(self) -> list[torch.Tensor]:
        return [torch.cat([g[k] for g in self.groups], 0) for k in range(6)]

    @staticmethod
    def apply(w: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.baddbmm(w[1], x, w[0]))
        h = torch.relu(torch.baddbmm(w[3], h, w[2]))
        return torch.baddbmm(w[5], h, w[4])


def _init_layers(seed: int, hidden: int, obs: int, actions: int) -> list[torch.Tensor]:
    """``torch.nn.Linear``'s default initialisation, U(±1/√fan_in), from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for fan_in, fan_out in ((obs, hidden), (hidden, hidden), (hidden, actions)):
        bound = 1.0 / math.sqrt(fan_in)
        out.append((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound)
        out.append((torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound)
    return out


def train(
    optimizers: dict[str, OptimizerFactory],
    seeds: Sequence[int],
    config: DQNConfig,
    *,
    progress: bool = True,
) -> Runs:
    """Train one DQN per (optimizer, seed) on CartPole-v1; see the module docstring.

    ``optimizers`` maps a name to a factory ``(params, gradient_steps) -> Optimizer``; the
    name's first word is the zoo member (one of :data:`ELEMENTWISE`), the rest a label of its
    settings (``"Adam eps=1e-4"``).
    """
    import gymnasium as gym

    if not optimizers:
        raise ValueError("optimizers is empty")
    bad = sorted(n for n in optimizers if n.split(maxsplit=1)[0] not in ELEMENTWISE)
    if bad:
        raise ValueError(
            f"{bad}: not an elementwise rule; runs stacked into one tensor would interact "
            f"(choose from {sorted(ELEMENTWISE)})"
        )
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and non-empty, got {seeds}")
    names = list(optimizers)
    n_opt, n_seed = len(names), len(seeds)
    runs = n_opt * n_seed
    start = time.perf_counter()

    envs, rngs = [], []
    obs = np.zeros((runs, 4), dtype=np.float32)
    for r in range(runs):
        seed = seeds[r % n_seed]
        env = gym.make("CartPole-v1")
        obs[r], _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        envs.append(env)
        rngs.append(np.random.default_rng(seed))
    n_actions = int(envs[0].action_space.n)

    layers, opts = [], []
    for name in names:
        per_seed = [_init_layers(s, config.hidden, 4, n_actions) for s in seeds]
        group = [torch.stack([p[k] for p in per_seed]).requires_grad_() for k in range(6)]
        layers.append(group)
        opts.append(optimizers[name](group, config.gradient_steps))
    net = _BatchedQ(layers)
    target = [w.detach().clone() for w in net.weights()]

    cap = config.steps
    states = np.zeros((runs, cap, 4), dtype=np.float32)
    nexts = np.zeros((runs, cap, 4), dtype=np.float32)
    actions = np.zeros((runs, cap), dtype=np.int64)
    rewards = np.zeros((runs, cap), dtype=np.float32)
    dones = np.zeros((runs, cap), dtype=np.float32)
    episodes: list[list[tuple[int, float]]] = [[] for _ in range(runs)]
    running = np.zeros(runs)
    row = np.arange(runs)[:, None]
    bar = _progress(config.steps, progress, f"DQN, {runs} runs")
    for t in range(config.steps):
        eps = config.epsilon(t)
        with torch.no_grad():
            greedy = net.apply(net.weights(), torch.from_numpy(obs)[:, None, :]).argmax(-1)[:, 0]
        for r in range(runs):
            explore = rngs[r].random() < eps
            a = int(envs[r].action_space.sample()) if explore else int(greedy[r])
            nxt, reward, terminated, truncated, _ = envs[r].step(a)
            states[r, t], actions[r, t], rewards[r, t] = obs[r], a, reward
            nexts[r, t], dones[r, t] = nxt, float(terminated)
            running[r] += reward
            if terminated or truncated:
                episodes[r].append((t + 1, float(running[r])))
                running[r] = 0.0
                nxt, _ = envs[r].reset()
            obs[r] = nxt
        if t >= config.learning_starts and (t - config.learning_starts) % config.train_every == 0:
            idx = np.stack([rng.integers(0, t + 1, config.batch_size) for rng in rngs])
            s, s2 = torch.from_numpy(states[row, idx]), torch.from_numpy(nexts[row, idx])
            a = torch.from_numpy(actions[row, idx])
            rew, done = torch.from_numpy(rewards[row, idx]), torch.from_numpy(dones[row, idx])
            with torch.no_grad():
                best_next = _BatchedQ.apply(target, s2).max(-1).values
                y = rew + config.gamma * (1 - done) * best_next
            q = net.apply(net.weights(), s).gather(-1, a[..., None])[..., 0]
            loss = torch.nn.functional.smooth_l1_loss(q, y, reduction="none").mean(1).sum()
            for opt in opts:
                opt.zero_grad()
            loss.backward()
            for opt in opts:
                opt.step()
        if (t + 1) % config.target_every == 0:
            target = [w.detach().clone() for w in net.weights()]
        bar.update(1)
    bar.close()
    for env in envs:
        env.close()
    evaluation = _evaluate(net, seeds, n_opt, config.eval_episodes)
    grouped = [[episodes[i * n_seed + j] for j in range(n_seed)] for i in range(n_opt)]
    return Runs(
        names,
        seeds,
        config,
        grouped,
        evaluation.reshape(n_opt, n_seed),
        time.perf_counter() - start,
        torch.get_num_threads(),
    )


def _evaluate(net: _BatchedQ, seeds: list[int], n_opt: int, episodes: int) -> np.ndarray:
    """Mean return of ``episodes`` greedy episodes per run, on evaluation environments seeded
    with ``seed + 10_000`` (other initial states than training's)."""
    import gymnasium as gym

    runs = n_opt * len(seeds)
    envs = [gym.make("CartPole-v1") for _ in range(runs)]
    obs = np.stack(
        [env.reset(seed=seeds[r % len(seeds)] + 10_000)[0] for r, env in enumerate(envs)]
    )
    totals = np.zeros(runs)
    finished = np.zeros(runs, dtype=int)
    running = np.zeros(runs)
    weights = [w.detach() for w in net.weights()]
    while (finished < episodes).any():
        with torch.no_grad():
            act = _BatchedQ.apply(weights, torch.from_numpy(obs)[:, None, :]).argmax(-1)[:, 0]
        for r in np.flatnonzero(finished < episodes):
            nxt, reward, terminated, truncated, _ = envs[r].step(int(act[r]))
            running[r] += reward
            if terminated or truncated:
                totals[r] += running[r]
                running[r] = 0.0
                finished[r] += 1
                nxt, _ = envs[r].reset()
            obs[r] = nxt
    for env in envs:
        env.close()
    return totals / episodes


def _progress(total: int, show: bool, desc: str):
    """A tqdm bar over the steps; ``show=False`` gives a silent one (tqdm's ``disable``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", mininterval=2.0, leave=False, disable=not show)
