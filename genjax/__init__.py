"""genjax: generative models (VAEs, GANs, diffusion) on one functional JAX training core."""

from genjax import xla_cpu

xla_cpu.configure()


def __getattr__(name: str):
    """`genjax.fit` (genjax/api.py), imported on first use: `import genjax` stays light."""
    if name == "fit":
        from genjax.api import fit

        return fit
    raise AttributeError(f"module 'genjax' has no attribute {name!r}")
