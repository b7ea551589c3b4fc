r"""One seeded DQN run on gymnasium's CartPole-v1, for any optimizer.

The DQN is the classic one (Mnih et al., 2015), with the hyperparameters of the RAD paper's
reproduction (``papers/rad/cartpole.py``, which trains many runs of elementwise optimizers in
lockstep; here one run has its own network and optimizer, so any ``torch.optim.Optimizer``
works, a rule coupling the coordinates of a tensor included): a 4-64-64-2 ReLU Q-network,
ε-greedy exploration decaying linearly from 1 to 0.05 over the first 20 % of the steps,
uniform replay over every transition of the run, a target network copied every 500 steps,
the Huber loss on the one-step TD target

.. math::

    y = r + \gamma\,(1 - \text{terminated}) \max_a Q_{\bar w}(s', a), \qquad \gamma = 0.99,

one gradient step (a minibatch of 64) per environment step once the first
``min(1000, steps // 5)`` steps of random play are done, and no gradient clipping.

The seed fixes the initial weights (``torch.manual_seed``), the environment
(``env.reset(seed=seed)``, ``env.action_space.seed(seed)``) and a NumPy generator for the
ε draws and the minibatches, so two optimizers run with one seed start alike. The curve is the
mean return of the last ten training episodes at 50 evenly spaced steps (``nan`` before the
first episode ends); the final metric the mean return of ten greedy episodes on an environment
seeded with ``seed + 10_000``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hamopt.compare.training import Trace, default_dtype, make_optimizer, step

__all__ = ["DQNConfig", "train_dqn"]


@dataclass(frozen=True)
class DQNConfig:
    """The DQN's hyperparameters (module docstring)."""

    gamma: float = 0.99
    hidden: int = 64
    batch_size: int = 64
    target_every: int = 500
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.2
    learning_starts: int = 1000  # at most; a fifth of the steps for shorter runs
    eval_episodes: int = 10
    window: int = 10
    points: int = 50


def train_dqn(
    cls: type, lr: float, seed: int, steps: int, config: DQNConfig | None = None
) -> Trace:
    """Train one DQN for ``steps`` environment steps with ``cls(params, lr=lr)``."""
    import gymnasium as gym

    if steps < 10:
        raise ValueError(f"steps must be >= 10 for a DQN run, got {steps}")
    cfg = DQNConfig() if config is None else config
    starts = min(cfg.learning_starts, steps // 5)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    n_obs, n_act = int(np.prod(env.observation_space.shape)), int(env.action_space.n)

    torch.manual_seed(seed)
    with default_dtype(torch.float32):
        net = nn.Sequential(
            nn.Linear(n_obs, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, n_act),
        )
    target = copy.deepcopy(net).requires_grad_(False)
    params = list(net.parameters())
    opt = make_optimizer(cls, params, lr)

    states = np.zeros((steps, n_obs), dtype=np.float32)
    nexts = np.zeros((steps, n_obs), dtype=np.float32)
    actions = np.zeros(steps, dtype=np.int64)
    rewards = np.zeros(steps, dtype=np.float32)
    dones = np.zeros(steps, dtype=np.float32)
    episodes: list[tuple[int, float]] = []  # (step at its end, return)
    running, diverged = 0.0, False
    decay = max(1.0, cfg.eps_fraction * steps)
    for t in range(steps):
        eps = cfg.eps_start + min(1.0, t / decay) * (cfg.eps_end - cfg.eps_start)
        if rng.random() < eps:
            action = int(env.action_space.sample())
        else:
            with torch.no_grad():
                action = int(net(torch.from_numpy(obs)).argmax())
        nxt, reward, terminated, truncated, _ = env.step(action)
        states[t], actions[t], rewards[t] = obs, action, reward
        nexts[t], dones[t] = nxt, float(terminated)
        running += float(reward)
        if terminated or truncated:
            episodes.append((t + 1, running))
            running = 0.0
            nxt, _ = env.reset()
        obs = nxt
        if t >= starts:
            idx = rng.integers(0, t + 1, cfg.batch_size)
            s, s2 = torch.from_numpy(states[idx]), torch.from_numpy(nexts[idx])
            a = torch.from_numpy(actions[idx])
            with torch.no_grad():
                best = target(s2).max(-1).values
                y = (
                    torch.from_numpy(rewards[idx])
                    + cfg.gamma * (1 - torch.from_numpy(dones[idx])) * best
                )

            def td_loss(s=s, a=a, y=y) -> torch.Tensor:
                q = net(s).gather(-1, a[:, None])[:, 0]
                return nn.functional.smooth_l1_loss(q, y)

            if math.isnan(step(opt, params, td_loss)):
                diverged = True
                break
        if (t + 1) % cfg.target_every == 0:
            target.load_state_dict(net.state_dict())
    env.close()
    edges = np.linspace(0, steps, cfg.points + 1)[1:]
    curve = _curve(episodes, edges, cfg.window, stop=t + 1 if diverged else steps)
    final = _greedy_return(net, seed + 10_000, cfg.eval_episodes)
    return Trace(edges, curve, final, diverged)


def _curve(
    episodes: list[tuple[int, float]], edges: np.ndarray, window: int, stop: int
) -> np.ndarray:
    """Mean return of the last ``window`` episodes finished by each edge (``nan`` before the
    first, and after ``stop``, where a diverged run ended)."""
    ends = np.array([e for e, _ in episodes], dtype=float)
    rets = np.array([r for _, r in episodes], dtype=float)
    out = np.full(len(edges), np.nan)
    for k, edge in enumerate(edges):
        done = rets[ends <= edge]
        if done.size and edge <= stop:
            out[k] = done[-window:].mean()
    return out


def _greedy_return(net: nn.Module, seed: int, episodes: int) -> float:
    """Mean return of ``episodes`` greedy episodes on an environment seeded with ``seed``."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    total = 0.0
    for _ in range(episodes):
        done = False
        while not done:
            with torch.no_grad():
                action = int(net(torch.from_numpy(obs)).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        obs, _ = env.reset()
    env.close()
    return total / episodes
