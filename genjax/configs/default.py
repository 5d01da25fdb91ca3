"""The default run of `genjax train` and `make demo`: the small UNet DDPM on built-in digits
resized to 16x16 (the `digits_ddpm` config), offline, about two minutes on 2 CPU cores."""

from genjax.configs.digits_ddpm import get_config

__all__ = ["get_config"]
