"""The default run of `genjax train` and `make demo`: the small UNet DDPM on built-in digits
resized to 16x16 (configs/digits_ddpm.py), offline, about two minutes on 2 CPU cores."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("digits_ddpm", Path(__file__).with_name("digits_ddpm.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)


def get_config(arg=None):
    return _module.get_config(arg)
