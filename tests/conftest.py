import os

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser):
    parser.addoption("--update-snapshots", action="store_true", default=False,
                     help="rewrite tests/control_data/*.png from the current frames")


@pytest.fixture(scope="session", autouse=True)
def private_media_dir(tmp_path_factory):
    """Manim's media folder (its cache of text drawn by Pango) per test process: with
    pytest-xdist two workers would otherwise write and read the same files."""
    from manim import config

    config.media_dir = str(tmp_path_factory.mktemp("media"))
