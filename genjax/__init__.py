"""genjax: generative models (VAEs, GANs, diffusion) on one functional JAX training core."""

from genjax import xla_cpu

xla_cpu.configure()
