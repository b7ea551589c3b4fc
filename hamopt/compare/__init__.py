"""``hamopt compare``: train optimizers side by side on a task, over seeds and an lr grid.

.. code-block:: python

    from hamopt.compare import compare, write

    result = compare(["RAD", "torch.Adam", "myrad.toml"], "digits-mlp", seeds=3)
    write(result, "hamopt-out/compare")   # compare.md, curves.png, compare.json

The pieces: :mod:`~hamopt.compare.tasks` (what is trained, the metric and its direction),
:mod:`~hamopt.compare.dqn` (the CartPole DQN), :mod:`~hamopt.compare.training` (a step
through a closure, divergence), :mod:`~hamopt.compare.run` (seeds × lr grid, the best lr),
:mod:`~hamopt.compare.stats` (the Student-t interval) and :mod:`~hamopt.compare.report` (the
table, the plots, the JSON).
"""

from hamopt.compare.report import table, write
from hamopt.compare.run import Comparison, compare, parse_lr_grid
from hamopt.compare.tasks import TASKS, Task

__all__ = ["TASKS", "Comparison", "Task", "compare", "parse_lr_grid", "table", "write"]
