"""The packaged experiment configs, one module per experiment, each with `get_config(arg=None)`.

`genjax train --config NAME[:variant]` and `genjax.config.load_config("NAME[:variant]")` load
`genjax/configs/NAME.py`; `genjax.config.config_names()` lists them. A config file elsewhere is
loaded by its path: `--config path/to/my_config.py[:variant]`.
"""
