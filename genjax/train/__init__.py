"""The functional training core: state, step, run."""

from genjax.train.init import init_train_state
from genjax.train.loop import run
from genjax.train.optim import make_optimizers
from genjax.train.state import TrainState
from genjax.train.step import make_train_step

__all__ = ["TrainState", "init_train_state", "make_optimizers", "make_train_step", "run"]
