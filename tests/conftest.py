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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Tests that read the same built scene run in one xdist group (one process), which builds
    it once: a module names the group of each test with a function ``xdist_group(item)``."""
    for item in items:
        group_of = getattr(item.module, "xdist_group", None)
        group = group_of(item) if group_of else None
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
