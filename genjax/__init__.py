"""genjax: generative models (VAEs, GANs, diffusion, autoregressive) on one functional JAX training
core. Importing it changes no environment variable and no JAX setting; `genjax.configure_cpu()`
opts in to the CPU fast path (the `genjax` command line does)."""

from genjax.cpu import configure_cpu


def __getattr__(name: str):
    """`genjax.fit` (genjax/api.py), imported on first use: `import genjax` stays light."""
    if name == "fit":
        from genjax.api import fit

        return fit
    raise AttributeError(f"module 'genjax' has no attribute {name!r}")


__all__ = ["configure_cpu", "fit"]
