"""Helpers to build scenes without writing video and to read back what they show."""

import re
from contextlib import contextmanager

import numpy as np
from manim import Scene, tempconfig

from scenes.components import Number, format_number

LOW = {"pixel_width": 854, "pixel_height": 480, "frame_rate": 15}


@contextmanager
def recording_adds():
    """Record every mobject ever added to any scene (including by animations)."""
    seen = []
    original = Scene.add

    def add(self, *mobjects):
        for m in mobjects:
            seen.extend(m.get_family())
        return original(self, *mobjects)

    Scene.add = add
    try:
        yield seen
    finally:
        Scene.add = original


def construct(scene_cls, trace, theme="dark", skip_animations=True, **settings):
    """Run a scene's construct with dry_run (nothing written); return (scene, everything added).

    With ``skip_animations`` every animation jumps to its end state: the same mobjects, the
    same final frame, no per-frame work."""
    with tempconfig({"dry_run": True, "disable_caching": True, "verbosity": "ERROR",
                     "progress_bar": "none", "output_file": "dry", **LOW, **settings}), recording_adds() as seen:
        scene = scene_cls(trace=trace, theme=theme, skip_animations=skip_animations)
        scene.render()
    return scene, seen


def trace_value(trace, source: str) -> float:
    """The trace entry a Number says it shows, e.g. 'KT[2,1]' is K[1,2]."""
    m = re.fullmatch(r"(\w+)\[(\d+),(\d+)\]", source)
    assert m, f"untagged number {source!r}"
    name, i, j = m.group(1), int(m.group(2)), int(m.group(3))
    if name == "KT":
        return float(trace.K[j, i])
    return float(np.asarray(getattr(trace, name))[i, j])


def numbers_in(mobjects):
    return [m for m in mobjects if isinstance(m, Number)]


def check_numbers(trace, mobjects) -> int:
    """Assert that every Number shows its trace entry at the precision shown; return count."""
    nums = numbers_in(mobjects)
    for num in nums:
        expected = format_number(trace_value(trace, num.qkv_source), num.qkv_digits)
        assert num.text == expected, (num.qkv_source, num.text, expected)
    return len(nums)
