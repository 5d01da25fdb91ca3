"""Diffusion models: noise processes, parameterizations, losses, samplers, guidance, likelihood."""

from genjax.diffusion.guidance import drop_labels, guided
from genjax.diffusion.likelihood import log_likelihood
from genjax.diffusion.losses import WEIGHTINGS, denoising_loss, loss_weight
from genjax.diffusion.parameterization import PARAMETERIZATIONS, convert, denoise, edm_precond, target, to_x0
from genjax.diffusion.samplers import SAMPLERS, ddim_invert, make_grid, sample
from genjax.diffusion.schedules import BETA_SCHEDULES, DDPM, EDM, PROCESSES, VE, VP, beta_schedule, make_process

__all__ = [
    "BETA_SCHEDULES",
    "DDPM",
    "EDM",
    "PARAMETERIZATIONS",
    "PROCESSES",
    "SAMPLERS",
    "VE",
    "VP",
    "WEIGHTINGS",
    "beta_schedule",
    "convert",
    "ddim_invert",
    "denoise",
    "denoising_loss",
    "drop_labels",
    "edm_precond",
    "guided",
    "log_likelihood",
    "loss_weight",
    "make_grid",
    "make_process",
    "sample",
    "target",
    "to_x0",
]
