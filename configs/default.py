"""The default run of `genjax train` and `make demo`: the digits VAE (configs/digits_vae.py)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("digits_vae", Path(__file__).with_name("digits_vae.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)


def get_config(arg=None):
    return _module.get_config(arg)
