"""The `backend` fixture: a test of genjax's native-kernel layers runs with the oneDNN kernels
(skipped where they do not build) and with XLA's lowering."""

import jax
import pytest

from genjax import native


@pytest.fixture(params=["onednn", "xla"])
def backend(request, monkeypatch):
    if request.param == "onednn" and not native.onednn():
        pytest.skip("the oneDNN kernels are not available here")
    if request.param == "xla":
        monkeypatch.setattr(native, "onednn", lambda: False)
    jax.clear_caches()  # lower again: a jitted function compiled under the other backend is cached
    yield request.param
    jax.clear_caches()
