"""Helpers to build scenes without writing video and to read back what they show."""

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from manim import MathTex, Scene, SingleStringMathTex, Text, tempconfig

from scenes.components import Number, format_number

LOW = {"pixel_width": 854, "pixel_height": 480, "frame_rate": 15}


@contextmanager
def recording_adds():
    """Record every mobject ever added to any scene, including by animations (which add with
    Scene.add, or swap one in with Scene.replace)."""
    seen = []
    original_add, original_replace = Scene.add, Scene.replace
    original_section = Scene.next_section
    original_play = Scene.play

    def play(self, *args, **kwargs):
        result = original_play(self, *args, **kwargs)
        check = getattr(self, "qkv_after_play", None)
        if check:
            check(self)
        return result

    def next_section(self, name="unnamed", *args, **kwargs):
        self.qkv_sections = [*getattr(self, "qkv_sections", []), name]
        return original_section(self, name, *args, **kwargs)

    def add(self, *mobjects):
        for m in mobjects:
            seen.extend(m.get_family())
        return original_add(self, *mobjects)

    def replace(self, old, new):
        seen.extend(new.get_family())
        return original_replace(self, old, new)

    Scene.add, Scene.replace, Scene.next_section = add, replace, next_section
    Scene.play = play
    try:
        yield seen
    finally:
        Scene.add, Scene.replace = original_add, original_replace
        Scene.next_section = original_section
        Scene.play = original_play


_DRY = tempfile.TemporaryDirectory(prefix="qkv-dry-")  # Manim writes a dry run's .srt here
DRY = Path(_DRY.name)


def construct(scene_cls, trace, theme="dark", skip_animations=True, after_play=None,
              **settings):
    """Run a scene's construct with dry_run (nothing written); return (scene, everything added).

    With ``skip_animations`` every animation jumps to its end state: the same mobjects, the
    same final frame, no per-frame work."""
    with tempconfig({"dry_run": True, "disable_caching": True, "verbosity": "ERROR",
                     "progress_bar": "none", "output_file": str(DRY / "dry"), **LOW, **settings}), \
            recording_adds() as seen:
        scene = scene_cls(trace=trace, theme=theme, skip_animations=skip_animations)
        scene.qkv_after_play = after_play
        scene.render()
        scene.renderer.update_frame(scene)
        frame = np.array(scene.renderer.get_frame())
    return scene, seen, frame


def trace_value(trace, source: str) -> float:
    """The value a Number says it shows, computed here independently from the trace.

    'KT[2,1]' is K[1,2]; 'expshift[i,j]' is e^(scaled[i,j] - max of row i); 'expsum[i,0]' their
    row sum; 'rowsum[i,0]' the sum of row i of the weights; 'wV3[j,m]' is weights[3,j] * V[j,m];
    'headout' is the first head's output; W* are the first head's matrices."""
    m = re.fullmatch(r"(\w+?)(\d*)\[(\d+),(\d+)\]", source)
    assert m, f"untagged number {source!r}"
    name, extra, i, j = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
    head = trace.heads[0]
    s = np.asarray(trace.scaled)
    if name == "wV":
        return float(trace.weights[int(extra), i] * trace.V[i, j])
    assert extra == "", source
    if name == "KT":
        return float(trace.K[j, i])
    if name == "expshift":
        return float(np.exp(s[i, j] - s[i].max()))
    if name == "expsum":
        return float(np.exp(s[i] - s[i].max()).sum())
    if name == "rowsum":
        return float(trace.weights[i].sum())
    if name == "headout":
        return float(head.output[i, j])
    if name in ("Wq", "Wk", "Wv"):
        return float(getattr(head, name)[i, j])
    return float(np.asarray(getattr(trace, name))[i, j])


def numbers_in(mobjects):
    return [m for m in mobjects if isinstance(m, Number)]


def check_numbers(trace, mobjects) -> set:
    """Assert that every Number shows its trace entry at the precision shown; return the set
    of matrix names shown."""
    names = set()
    for num in numbers_in(mobjects):
        expected = format_number(trace_value(trace, num.qkv_source), num.qkv_digits)
        assert num.text == expected, (num.qkv_source, num.text, expected)
        names.add(re.match(r"[A-Za-z]+", num.qkv_source).group())
    return names


def text_mobjects(scene):
    """Every piece of text in the final frame: Text, Number and MathTex, each as one box."""
    found = []

    def walk(m):
        if isinstance(m, (Text, Number, MathTex, SingleStringMathTex)):
            if len(m.get_family()) > 0 and m.width > 0:
                found.append(m)
            return
        for sub in m.submobjects:
            walk(sub)

    for top in scene.mobjects:
        walk(top)
    return found


def overlapping_pairs(mobs, tol: float = 0.01):
    """Pairs of mobjects whose bounding boxes overlap by more than ``tol`` on both axes."""
    if not mobs:
        return []
    lo = np.array([[m.get_left()[0], m.get_bottom()[1]] for m in mobs]) + tol
    hi = np.array([[m.get_right()[0], m.get_top()[1]] for m in mobs]) - tol
    pairs = []
    for a in range(len(mobs)):
        over = (lo[a] < hi[a + 1:]).all(axis=1) & (lo[a + 1:] < hi[a]).all(axis=1)
        pairs += [(mobs[a], mobs[a + 1 + b]) for b in np.flatnonzero(over)]
    return pairs


def layout_problems(scene, min_text: float = 10, min_number: float = 10) -> list[str]:
    """What a viewer would notice on screen now: mobjects outside the frame, text boxes that
    overlap, text below the minimum size."""
    from manim import config

    problems = []
    w, h = config.frame_width / 2 + 1e-6, config.frame_height / 2 + 1e-6
    for top in scene.mobjects:
        for m in top.get_family():
            if len(m.points) and not (-w <= m.get_left()[0] and m.get_right()[0] <= w
                                      and -h <= m.get_bottom()[1] and m.get_top()[1] <= h):
                problems.append(f"outside the frame: {m!r}")
    texts = text_mobjects(scene)
    for a, b in overlapping_pairs(texts):
        problems.append(f"overlap: {getattr(a, 'text', a)!r} / {getattr(b, 'text', b)!r}")
    for m in texts:
        floor = min_number if hasattr(m, "qkv_value") else min_text
        if m.font_size < floor:
            problems.append(f"too small ({m.font_size:.1f}): {getattr(m, 'text', m)!r}")
    return problems
