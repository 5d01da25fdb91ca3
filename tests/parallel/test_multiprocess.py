"""2 processes x 2 devices (gloo CPU collectives) equal 1 process x 4 devices."""

import os
import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, sub):
    sub.run_worker(["core", tmp_path / "single.npz", "2x2"], devices=4)
    port = sub.free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, str(sub.WORKER), "core", str(tmp_path / "multi.npz"), "2x2", str(i), "2",
                               str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(e[-3000:] for e in errors)
    single, multi = sub.load(tmp_path / "single.npz"), sub.load(tmp_path / "multi.npz")
    assert any("fsdp" in s for s in multi["specs"])
    for key in single:
        if key != "specs":
            np.testing.assert_allclose(multi[key], single[key], rtol=1e-5, atol=1e-6, err_msg=key)
