"""engine/: every patch of Manim's internals against Manim's own behaviour. Each test here
is what to run after a Manim upgrade (engine/README.md): the renderer draws the frames Manim
draws, copies and families are Manim's, fades are Manim's FadeIn and FadeOut by colours, numbers
split as Manim splits them, the writer keeps the picture, and the drawn cache keeps whole files.
"""

import os
import pickle
import subprocess
import sys
from dataclasses import replace

import av
import numpy as np

from attention import compute
from qkv.registry import load
from qkv.render import RenderOptions, render_scene
from tests.test_render import packets

QKV = [sys.executable, "-m", "qkv"]


def test_encoder_settings_keep_the_picture(tmp_path, monkeypatch):
    """qkv's x264 settings and still holds encoded once (engine/writer.py) against Manim's
    own writer, on every frame of the explainer (every stage): SSIM at least 0.99 on every
    frame, the same number of frames, and a file at most 1.5 times the size. Over a quarter
    of its frames (2 a second) are a hold's repeats, the very frames engine/h264.py writes,
    and the decoder finds nothing wrong with any. (At 480p frames are converted whole: the
    box by box conversion is checked in the tests after this one.)"""
    from engine import h264
    from tests.test_h264 import decoded
    from tests.ssim import luma_frames, ssim

    t = compute("The cat sat on the mat")
    options = RenderOptions(scene="explainer", quality="low", fps=2, silent=True)
    monkeypatch.setenv("QKV_X264", "manim")
    manim = render_scene(t, replace(options, out=tmp_path / "manim"))[0]
    monkeypatch.delenv("QKV_X264")
    ours = render_scene(t, replace(options, out=tmp_path / "qkv"))[0]
    scores = [ssim(a, b) for a, b in zip(luma_frames(manim), luma_frames(ours))]
    assert len(scores) == len(packets(manim)) == len(packets(ours)) > 200
    assert min(scores) >= 0.99, (min(scores), int(np.argmin(scores)))
    assert ours.stat().st_size <= 1.5 * manim.stat().st_size
    with av.open(str(ours)) as c:
        params = h264.parameter_sets(c.streams.video[0].codec_context.extradata)
    written = {h264.skip_frame(params, k)[4:] for k in range(1 << params.log2_max_frame_num)}
    assert sum(p[4:] in written for p in packets(ours)) > len(scores) / 4  # (mp4: 4-byte size)
    frames, bad = decoded(ours.read_bytes())
    assert len(frames) == len(scores) and not bad, bad[:3]


def test_a_text_parsed_once_is_read_back_as_it_was_made(tmp_path, monkeypatch):
    """engine/text.py keeps each text it parsed beside Manim's SVGs; a process that finds
    one there reads it instead of asking Pango and parsing the SVG: the very same Text (every
    value, all the way down), scaled as a fresh one would be. One that cannot be read (cut
    short) is made again and replaced."""
    import manim

    import engine.text
    from scenes.components import plain_text
    from scenes.theme import get_theme

    theme = get_theme("dark")
    made = []
    init = manim.Text.__init__
    monkeypatch.setattr(manim.Text, "__init__", lambda self, *a, **k: made.append(a) or
                        init(self, *a, **k))
    monkeypatch.setattr(engine.text, "_TEXTS", {})

    def text():
        engine.text._TEXTS.clear()  # as in a new process
        return plain_text("Wąż knights", theme, font_size=20, color=theme.q)

    with manim.tempconfig({"media_dir": str(tmp_path)}):
        fresh = text()
        files = list((tmp_path / "texts").glob("qkv-*.pickle"))
        assert len(files) == 1 and len(made) == 1
        read = text()
        assert len(made) == 1  # read from the file: Pango not asked, nothing parsed
        _same_tree(read, fresh, skip=("original_id",))
        files[0].write_bytes(files[0].read_bytes()[:-40])  # cut short
        again = text()
        assert len(made) == 2
        _same_tree(again, fresh, skip=("original_id",))
        text()
        assert len(made) == 2  # the file was replaced with a whole one


def _decoded(path) -> list[np.ndarray]:
    """Every frame of a video, decoded (RGB)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_qkv_renderer_draws_what_manims_draws(tmp_path, monkeypatch):
    """engine/renderer.py (cairo paths kept and replayed, cheaper copies and families) against
    Manim's own renderer: every decoded frame the same, pixel for pixel, for a --jobs part
    of the explainer (two of its stages)."""
    from manim.renderer.cairo_renderer import CairoRenderer

    import engine.renderer
    from engine.writer import QkvFileWriter

    import engine.pictures

    # fades as one picture are drawn another way by Manim's camera (as an image:
    # tests/test_pictures.py); here both fade each shape as Manim does
    monkeypatch.setattr(engine.pictures, "pictured", lambda *a, **k: None)
    t = compute("Cats chase mice", causal=True)
    options = RenderOptions(scene="explainer", quality="low", fps=2, silent=True,
                            part=("softmax", "mixing"))
    ours = render_scene(t, replace(options, out=tmp_path / "qkv"))[0]
    monkeypatch.setattr(engine.renderer, "QkvRenderer",
                        lambda: CairoRenderer(file_writer_class=QkvFileWriter))
    manims = render_scene(t, replace(options, out=tmp_path / "manim"))[0]
    a, b = _decoded(manims), _decoded(ours)
    assert len(a) == len(b) > 30
    for k, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(x, y), f"frame {k} differs"


def test_hoisting_leaves_every_frame_of_the_explainer_as_it_was(tmp_path, monkeypatch):
    """engine/renderer.py's hoisting (still mobjects clear of what moves before them drawn
    into the play's background) on the explainer as it renders, pictures and all: every
    decoded frame the same as with hoisting off, for a --jobs part (two stages), and
    something was hoisted."""
    import engine.renderer

    made = []
    init = engine.renderer.QkvRenderer.__init__
    monkeypatch.setattr(engine.renderer.QkvRenderer, "__init__",
                        lambda self, **k: made.append(self) or init(self, **k))
    t = compute("The cat sat on the mat", causal=True)
    options = RenderOptions(scene="explainer", quality="low", fps=3, silent=True,
                            part=("softmax", "mixing"))
    ours = render_scene(t, replace(options, out=tmp_path / "on"))[0]
    monkeypatch.setattr(engine.renderer, "HOIST", False)
    plain = render_scene(t, replace(options, out=tmp_path / "off"))[0]
    assert made[0].hoists > 20 and made[1].hoists == 0
    a, b = _decoded(ours), _decoded(plain)
    assert len(a) == len(b) > 60
    for k, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(x, y), f"frame {k} differs"


def test_what_may_still_change_follows_updaters_and_groups_that_turn_back():
    """changing_ids: the parts an updater has now (its family may grow), and a finished part
    of a group whose time goes back (there_and_back) still counts as changing; of a group
    whose time only goes forward, it does not."""
    from manim import FadeIn, LaggedStart, Square, VGroup, there_and_back

    from engine.renderer import changing_ids, updated_ids

    grows = VGroup(Square())
    grows.add_updater(lambda m: m.add(Square()))
    before = updated_ids([grows])
    grows.update(0)
    assert len(updated_ids([grows])) == len(before) + 1
    parts = [Square() for _ in range(3)]
    for rate, held in ((None, 2), (there_and_back, 3)):
        group = LaggedStart(*(FadeIn(p) for p in parts), lag_ratio=1,
                            **({"rate_func": rate} if rate else {}))
        group.begin()
        group.interpolate(0.5 if rate is None else 0.2)
        group.anims_finished[:] = [True, False, False]
        assert sum(id(p) in changing_ids([group], set()) for p in parts) == held


def _tricky_frames(renderer_class, tmp_path, counts=None) -> tuple[list[np.ndarray], list[int]]:
    """Every frame a scene made to catch a background drawn too early writes, and for each
    play how many moving mobjects qkv's renderer had drawn into the background at its end."""
    from manim import (
        DOWN,
        LEFT,
        RIGHT,
        UP,
        AnimationGroup,
        Circle,
        Create,
        Dot,
        FadeIn,
        FadeOut,
        LaggedStart,
        LineJointType,
        Polygon,
        Rectangle,
        ReplacementTransform,
        Scene,
        Square,
        Succession,
        Transform,
        VGroup,
        always_redraw,
        tempconfig,
    )

    from engine.writer import FRAMES, Changes

    frames, settled = [], []
    changes = Changes("yuv420p") if counts is not None else None  # the encoder's, per play

    class Tricky(Scene):
        def construct(self):
            row = VGroup(*(Square(0.9, fill_opacity=0.7, color=c).shift(RIGHT * 0.45 * k)
                           for k, c in enumerate(["#e07a5f", "#81b29a", "#f2cc8f", "#3d5a80",
                                                  "#98c1d9", "#ee6c4d"]))).shift(UP + LEFT)
            row[2].set_z_index(-1)  # drawn before its neighbours, whatever the scene order
            self.add(Circle(2, color="#555555"))  # static, under everything
            # overlapping parts: each later one drawn over the earlier ones as they finish
            self.play(LaggedStart(*(FadeIn(s) for s in row), lag_ratio=0.4), run_time=2)
            dots = VGroup(*(Dot(0.5 * RIGHT * k + DOWN) for k in range(5)))
            led = [row[5]]
            follower = always_redraw(lambda: Dot(led[0].get_center() + DOWN * 0.3,
                                                 color="#ffffff"))
            self.add(dots, follower)  # updated every frame, drawn after the dots
            # groups of groups; a part that moves over finished ones; the row moving as a
            # whole while its parts' group is done with some
            self.play(LaggedStart(*(AnimationGroup(d.animate.shift(UP * 0.4),
                                                   FadeOut(row[k]))
                                    for k, d in enumerate(dots)), lag_ratio=0.5),
                      row[5].animate.shift(LEFT * 2), run_time=2)
            more = VGroup(*(Square(0.3).shift(DOWN * 2 + RIGHT * 0.4 * k) for k in range(5)))
            self.play(Succession(Create(dots[0].copy()), ReplacementTransform(dots[1], more)),
                      Transform(dots[2], VGroup(*(Dot(UP * 2 + RIGHT * k) for k in range(3)))),
                      run_time=1.5)
            led[0] = more[0]  # the follower, before the squares, follows the first
            self.play(LaggedStart(*(m.animate.set_color("#ffdd00").shift(UP * 0.2)
                                    for m in more), lag_ratio=0.6), run_time=1.5)
            # a thin, thick-stroked wedge: its mitred tip reaches 8.8 half-widths past its
            # points (a 13 degree angle: just under cairo's mitre limit of 10)
            wedge = Polygon(LEFT * 3, RIGHT * 0.5 + UP * 0.4, RIGHT * 0.5 + DOWN * 0.4,
                            stroke_width=14, color="#ffffff").shift(DOWN * 0.5)
            wedge.joint_type = LineJointType.MITER
            self.play(wedge.animate.shift(RIGHT * 2.5), run_time=1)
            self.play(FadeOut(wedge), run_time=0.5)
            # under everything (z-index -1), a square moves: all at z-index 0 moves with it in
            # Manim's order; what it cannot reach goes into the background, what it comes to
            # cover on the way (the second dot) comes out again, what it covers from the
            # start (the bar) never goes in
            low = Square(0.8, fill_opacity=1, color="#81b29a").set_z_index(-1).shift(LEFT * 4)
            far = VGroup(*(Dot(UP * 3 + RIGHT * k, color="#f2cc8f") for k in range(3)))
            met = Dot(LEFT * 1, radius=0.3, color="#ee6c4d")
            bar = Rectangle(width=1.5, height=0.3, fill_opacity=0.8,
                            color="#3d5a80").shift(LEFT * 4)
            self.add(low, far, met, bar)
            self.play(low.animate.shift(RIGHT * 4), run_time=1.5)

    with tempconfig({"media_dir": str(tmp_path), "pixel_width": 320, "pixel_height": 180,
                     "frame_rate": 15, "disable_caching": True, "write_to_movie": False,
                     "verbosity": "ERROR", "progress_bar": "none"}):
        renderer = renderer_class()
        add, play = renderer.add_frame, renderer.play

        def add_frame(frame, num_frames=1):  # kept, then given back as the encoder would
            frames.extend([frame.copy()] * num_frames)
            add(frame, num_frames)
            if changes is not None:  # converted box by box: the bytes of a whole conversion
                yuv = changes.converted(frame, still=num_frames > 1)
                whole = av.VideoFrame.from_ndarray(frame, format="rgba").reformat(
                    format="yuv420p")
                assert np.array_equal(yuv.to_ndarray(), whole.to_ndarray()), \
                    f"frame {len(frames) - 1} converted box by box differs"
            FRAMES.give(frame)

        renderer.add_frame = add_frame
        renderer.play = lambda *a, **k: (changes and changes.forget(), play(*a, **k),
                                         settled.append(len(getattr(renderer, "_settled", []))))
        Tricky(renderer=renderer).render()
    if counts is not None:
        counts += [renderer.camera.boxes_restored, renderer.camera.masks_painted,
                   changes.boxes, renderer.hoists, renderer.restarts]
    return frames, settled


def test_settled_parts_drawn_into_the_background_leave_every_frame_as_manim_draws_it(
        tmp_path, monkeypatch):
    """engine/renderer.py draws the finished parts of a LaggedStart into the background once
    instead of on every frame: every frame of a scene made to trip it (overlapping parts, a
    z-index against the scene order, an updater after the animated parts, groups of groups, a
    Succession, a Transform that changes the number of parts, a part moving over finished
    ones, a thick mitred stroke, fades painted through kept coverage masks) is the one
    Manim's own renderer draws, pixel for pixel, and the background did take parts in.
    Frames are given back to the pool as the encoder gives them, so arrays are drawn into
    again and get back only the box drawn over them; and each frame converted to YUV box by
    box as the encoder converts it is the same as converted whole."""
    from manim.renderer.cairo_renderer import CairoRenderer

    from engine.renderer import QkvRenderer

    import engine.renderer

    monkeypatch.setattr(engine.renderer, "BOX_FROM", 0)  # boxes at this small size too
    manims, _ = _tricky_frames(CairoRenderer, tmp_path / "manim")
    counts = []
    ours, settled = _tricky_frames(QkvRenderer, tmp_path / "qkv", counts)
    assert len(manims) == len(ours) > 90
    assert counts[0] > 30  # frames whose array got back only the box drawn over it
    assert counts[1] > 30  # fading shapes painted through their kept coverage
    assert counts[2] > 30  # frames converted to YUV box by box (the same bytes: checked)
    assert counts[3] >= 4 and counts[4] >= 1  # mobjects clear of what moves before them put
    # into the background; and taken out again when what moves came to cover one
    for k, (a, b) in enumerate(zip(manims, ours)):
        assert np.array_equal(a, b), f"frame {k} differs"
    assert settled[0] >= 5  # the first LaggedStart's parts went into the background
    assert sum(settled) > settled[0]  # and more later


def test_stages_fade_in_as_manims_fade_in_would():
    """engine/fades.py FadeInPlace (what fade_in plays when nothing moves) against Manim's
    FadeIn, on every part of a whole stage, alone and staggered in a LaggedStart: the same
    colours at every step, points left as they are, each part added to the scene, and at the
    end exactly its own colours."""
    from manim import FadeIn, LaggedStart, Scene, VMobject

    from engine.fades import FadeInPlace, fade_in
    from tests.scene_tools import construct

    scene, _, _ = construct(load("softmax"), compute("Cats chase mice", causal=True))
    stage = [p for m in scene.mobjects for p in m.submobjects] + scene.mobjects
    assert len(stage) > 10 and all(isinstance(fade_in(m), FadeInPlace) for m in stage)
    assert type(fade_in(stage[0], shift=[0.2, 0, 0])) is FadeIn  # one that moves: Manim's
    ours = [m.copy() for m in stage]
    manims = [m.copy() for m in stage]
    own = [[(f.points.copy(), f.fill_rgbas.copy(), f.stroke_rgbas.copy(),
             f.background_stroke_rgbas.copy()) for f in m.family_members_with_points()]
           for m in ours]
    for make in (lambda fade, ms: [fade(m) for m in ms],
                 lambda fade, ms: [LaggedStart(*(fade(m) for m in ms), lag_ratio=0.2)]):
        fades = make(FadeInPlace, ours), make(FadeIn, manims)
        holders = Scene(), Scene()
        for holder, anims in zip(holders, fades):
            for anim in anims:
                anim._setup_scene(holder)
                anim.begin()
        assert holders[0].mobjects == ours and holders[1].mobjects == manims
        for alpha in (0.0, 0.1, 0.35, 0.5, 0.8, 1.0):
            for a, b in zip(*fades):
                a.interpolate(alpha)
                b.interpolate(alpha)
            for x, y, was in zip(ours, manims, own):
                xs, ys = x.family_members_with_points(), y.family_members_with_points()
                assert all(isinstance(f, VMobject) for f in xs)
                for f, g, (points, *_) in zip(xs, ys, was):
                    for name in ("fill_rgbas", "stroke_rgbas", "background_stroke_rgbas"):
                        assert np.allclose(getattr(f, name), getattr(g, name), atol=1e-12), name
                    assert np.array_equal(f.points, points)
                    assert np.allclose(g.points, points, atol=1e-12)
        for holder, anims in zip(holders, fades):
            for anim in anims:
                anim.finish()
                anim.clean_up_from_scene(holder)
        assert holders[0].mobjects == ours
        for m, was in zip(ours, own):
            for f, (_, fill, stroke, back) in zip(m.family_members_with_points(), was):
                assert np.array_equal(f.fill_rgbas, fill) and np.array_equal(f.stroke_rgbas, stroke)
                assert np.array_equal(f.background_stroke_rgbas, back)


def _same_tree(a, b, path="", seen=None, skip=()):
    """Assert that ``a`` and ``b`` hold the same values, attribute by attribute, down through
    every mobject, list, dict and array (nothing but the objects themselves, and attributes
    named in ``skip``, may differ)."""
    from manim import Mobject

    seen = set() if seen is None else seen
    assert type(a) is type(b), (path, type(a), type(b))
    if (id(a), id(b)) in seen:
        return
    seen.add((id(a), id(b)))
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), path
    elif isinstance(a, Mobject):
        assert a.__dict__.keys() - set(skip) == b.__dict__.keys() - set(skip), path
        for k in a.__dict__.keys() - set(skip):
            _same_tree(a.__dict__[k], b.__dict__[k], f"{path}.{k}", seen, skip)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            _same_tree(x, y, f"{path}[{k}]", seen, skip)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same_tree(a[k], b[k], f"{path}[{k!r}]", seen, skip)
    else:
        assert a == b, (path, a, b)


def test_copies_are_the_copies_manim_makes():
    """engine/renderer.py's Mobject.__deepcopy__ (atomic attributes shared, not handed to
    copy.deepcopy) against Manim's own, on everything a scene shows: the same values all the
    way down, the same sharing inside the copy, and nothing shared with the original but
    what cannot change."""
    import copy

    from manim import RIGHT, MathTex, Mobject, Text

    import engine.renderer
    from tests.scene_tools import construct

    scene, _, _ = construct(load("scores"), compute("Hi there", causal=True))
    shown = [*scene.mobjects, MathTex(r"\frac{QK^T}{\sqrt{d_k}}")]
    assert Mobject.__deepcopy__ is engine.renderer.mobject_deepcopy  # a QkvRenderer installed it
    ours = [m.copy() for m in shown]
    try:
        Mobject.__deepcopy__ = engine.renderer.MANIMS_DEEPCOPY
        manims = [m.copy() for m in shown]
    finally:
        Mobject.__deepcopy__ = engine.renderer.mobject_deepcopy
    assert sum(len(m.get_family()) for m in shown) > 150
    for original, a, b in zip(shown, ours, manims):
        _same_tree(a, b)
        _same_tree(a, original, skip=("original_id",))  # (the id of what it was copied from)
        family = a.get_family()
        assert not {id(m) for m in family} & {id(m) for m in original.get_family()}
        for m, o in zip(family, original.get_family()):
            for k, v in m.__dict__.items():
                if isinstance(v, (np.ndarray, list, dict)) and len(v):
                    assert v is not o.__dict__[k], k  # nothing mutable is shared
    texts = [m for top in ours for m in top.get_family() if isinstance(m, Text)]
    assert texts and all(t.chars[0] is t.submobjects[0] for t in texts)  # glyphs in 2 lists
    before = shown[0].get_center().copy()
    ours[0].shift(RIGHT)
    assert np.array_equal(shown[0].get_center(), before)
    assert copy.deepcopy(ours[0]).get_center()[0] == ours[0].get_center()[0]


def test_numbers_split_their_outlines_as_manim_does():
    """Number's own outline split and point comparison (engine/text.py: one numpy step)
    against VMobject's, for numbers as made and halfway through morphing into another (a
    Transform adds points to both to align them), and for points just inside and just
    outside the tolerance."""
    import math

    from manim import Transform, VMobject

    from engine.text import Number

    values = [0.0, -1.5, 0.123, 12.5, -0.004, 88.88, -math.inf, 1 / 3]
    numbers = [Number(v, digits=d) for v in values for d in (1, 2, 3)]
    for a, b in zip(numbers, numbers[5:] + numbers[:5]):
        morph = a.copy()
        anim = Transform(morph, b.copy())
        anim.begin()
        anim.interpolate(0.5)
        for n in (a, morph):
            ours = n.get_subpaths_from_points(n.points)
            manims = VMobject.get_subpaths_from_points(n, n.points)
            assert len(ours) == len(manims) > 1
            assert all(np.array_equal(x, y) for x, y in zip(ours, manims))
    rng = np.random.default_rng(0)
    n = numbers[0]
    for a in numbers:  # curves that start a hair (about the tolerance) from where one ended
        points = a.points.copy()
        points[4::4] += rng.normal(size=points[4::4].shape) * 1e-6
        ours = a.get_subpaths_from_points(points)
        manims = VMobject.get_subpaths_from_points(a, points)
        assert len(ours) == len(manims)
        assert all(np.array_equal(x, y) for x, y in zip(ours, manims))
    for _ in range(2000):
        p0 = rng.normal(size=3) * 10.0 ** rng.integers(-3, 3)
        p1 = p0 + rng.normal(size=3) * 10.0 ** rng.integers(-9, -3)
        assert n.consider_points_equals(p0, p1) == VMobject.consider_points_equals(n, p0, p1)
    assert sum(n.consider_points_equals(p, p + 1e-6) for p in rng.normal(size=(50, 3))) > 0


def test_stages_fade_away_as_manims_fade_out_would():
    """engine/fades.py FadeAway (between stages) against Manim's FadeOut, on a whole stage:
    the same colours at every point of the fade, points left as they are, and afterwards the
    stage removed from the scene and its colours as before."""
    from manim import FadeOut, Scene, VMobject

    from engine.fades import FadeAway
    from tests.scene_tools import construct

    scene, _, _ = construct(load("softmax"), compute("Cats chase mice", causal=True))
    stage = scene.mobjects
    assert all(FadeAway.fades_away(m) for m in stage)
    ours = [m.copy() for m in stage]
    manims = [m.copy() for m in stage]
    before = [[(f.points.copy(), *((f.fill_rgbas.copy(), f.stroke_rgbas.copy())
                                   if isinstance(f, VMobject) else (None, None)))
               for f in m.get_family()] for m in ours]
    fades = [FadeAway(m) for m in ours], [FadeOut(m) for m in manims]
    for anim in (*fades[0], *fades[1]):
        anim.begin()
    for alpha in (0.0, 0.1, 0.35, 0.5, 0.8, 1.0):
        for a, b in zip(*fades):
            a.interpolate(alpha)
            b.interpolate(alpha)
            for x, y, (points, _, _) in zip(a.mobject.get_family(), b.mobject.get_family(),
                                            before[ours.index(a.mobject)]):
                if not len(x.points):  # not drawn, and not changed by FadeOut either
                    assert not isinstance(x, VMobject) or np.array_equal(
                        x.fill_rgbas, y.fill_rgbas)
                    continue
                for name in ("fill_rgbas", "stroke_rgbas", "background_stroke_rgbas"):
                    assert np.allclose(getattr(x, name), getattr(y, name), atol=1e-12), name
                assert np.array_equal(x.points, points)
                assert np.allclose(y.points, points, atol=1e-12)
    assert max(abs(f.fill_rgbas[:, 3]).max() for m in ours
               for f in m.family_members_with_points()) == 0
    holder = Scene()
    holder.add(*ours)
    for anim in fades[0]:
        anim.clean_up_from_scene(holder)
    assert holder.mobjects == []
    for m, was in zip(ours, before):
        for f, (_, fill, stroke) in zip(m.get_family(), was):
            if isinstance(f, VMobject):
                assert np.array_equal(f.fill_rgbas, fill) and np.array_equal(f.stroke_rgbas, stroke)


def test_families_are_the_families_manim_lists():
    """engine/renderer.py's Mobject.get_family (a leaf answered at once) against Manim's, for
    every mobject a stage adds and for a group that holds one part twice."""
    from manim import Circle, Mobject, Square, VGroup

    import engine.renderer
    from tests.scene_tools import construct

    _, seen, _ = construct(load("mixing"), compute("Cats chase mice", heads=2))
    s, c = Square(), Circle()
    twice = VGroup(VGroup(s, c), s, VGroup())
    assert Mobject.get_family is engine.renderer.mobject_get_family
    ours = [m.get_family() for m in [*seen, twice]]
    try:
        Mobject.get_family = engine.renderer.MANIMS_GET_FAMILY
        manims = [m.get_family() for m in [*seen, twice]]
    finally:
        Mobject.get_family = engine.renderer.mobject_get_family
    assert ours == manims and sum(map(len, ours)) > 500
    assert twice.get_family() == [twice, twice[0], c, s, twice[2]]


def test_formulas_and_texts_drawn_once_are_kept_for_the_next_render(tmp_path):
    """A render keeps the SVGs LaTeX and Pango made (whole files only); the next render reads
    them: here it never calls LaTeX, which would fail the render."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = [*QKV, "render", "Cats sleep", "--scene", "scores", "--quality", "low", "--fps", "2",
            "--silent"]
    first = subprocess.run([*args, "--out", str(tmp_path / "a")], env=env, capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr
    cache = tmp_path / "cache" / "qkv" / "manim"
    formulas, texts = sorted((cache / "Tex").iterdir()), sorted((cache / "texts").iterdir())
    assert len(formulas) >= 3 and len(texts) >= 5
    assert {p.suffix for p in formulas} == {".svg"}  # no half-written .part
    assert {p.suffix for p in texts} == {".svg", ".pickle"}  # and texts parsed
    kept = [p.read_bytes() for p in formulas + texts]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("latex", "dvisvgm"):  # found before the real ones: they leave a mark, fail
        fake = bin_dir / tool
        fake.write_text(f"#!/bin/sh\ntouch {tmp_path}/{tool}-ran\nexit 1\n")
        fake.chmod(0o755)
    second = subprocess.run([*args, "--out", str(tmp_path / "b")], capture_output=True,
                            text=True, env={**env, "PATH": f"{bin_dir}:{env['PATH']}"})
    assert second.returncode == 0, second.stderr
    assert not list(tmp_path.glob("*-ran"))
    assert sorted((cache / "Tex").iterdir()) == formulas
    assert sorted((cache / "texts").iterdir()) == texts  # nothing new drawn or parsed
    # the second render's folder was seeded with links to these files: none was written
    # through them
    assert [p.read_bytes() for p in formulas + texts] == kept


def test_the_drawn_cache_takes_only_whole_files(tmp_path):
    """Pango writes an empty SVG for a text it cannot draw (before the render fails): such a
    file, or one cut short, never enters the cache, where every later render would read it,
    and one found there is never handed to a render."""
    from engine.cache import keep_drawn, seed_drawn

    work, cache = tmp_path / "work", tmp_path / "cache"
    (work / "texts").mkdir(parents=True)
    (work / "texts" / "empty.svg").write_bytes(b"")
    (work / "texts" / "cut.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M')
    (work / "texts" / "whole.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>\n')
    whole = pickle.dumps({"a parsed text": list(range(100))})
    (work / "texts" / "whole.pickle").write_bytes(whole)
    (work / "texts" / "cut.pickle").write_bytes(whole[:-1])
    keep_drawn(work, cache)
    assert sorted(p.name for p in (cache / "texts").iterdir()) == ["whole.pickle", "whole.svg"]
    (cache / "texts" / "empty.svg").write_bytes(b"")  # however one got there: not handed on
    (cache / "texts" / "empty.pickle").write_bytes(b"")
    seed_drawn(tmp_path / "next", cache)
    assert sorted(p.name for p in (tmp_path / "next" / "texts").iterdir()) == [
        "whole.pickle", "whole.svg"]


def test_a_text_made_again_leaves_its_svg_as_it_was(tmp_path, monkeypatch):
    """Manim's Text rewrites its SVG in place every time one is made (manimpango's
    remove_last_M), which truncates a file every render linked to the cache shares. qkv's
    replacement writes it only when it changes it: the first time, to the very bytes
    manimpango's writes."""
    import manim
    from manimpango import PangoUtils

    import engine.cache as drawn

    remove_last_M_in_place_only = drawn.remove_last_M_in_place_only_if_it_changes
    drawn.texts_rewritten_only_once()
    ours = PangoUtils.__dict__["remove_last_M"]
    (manimpangos,) = drawn.MANIMPANGOS_REMOVE_LAST_M

    def svg(folder):
        with manim.tempconfig({"media_dir": str(folder)}):
            manim.Text("Cats sat, Wąż", font="DejaVu Sans")
        (f,) = (folder / "texts").glob("*.svg")
        return f

    made = svg(tmp_path / "qkv")
    monkeypatch.setattr(PangoUtils, "remove_last_M", staticmethod(lambda name: None))
    raw = svg(tmp_path / "raw")  # as Pango writes it, before either rewrite
    monkeypatch.setattr(PangoUtils, "remove_last_M", ours)
    theirs, qkvs = (raw.with_name(n) for n in ("theirs.svg", "qkvs.svg"))
    for f, rewrite in ((theirs, manimpangos), (qkvs, remove_last_M_in_place_only)):
        f.write_bytes(raw.read_bytes())
        rewrite(str(f))
    assert b'Z M ' in raw.read_bytes() and theirs.read_bytes() != raw.read_bytes()
    assert qkvs.read_bytes() == theirs.read_bytes()
    # The file's times set long ago, by hand: any write from here on shows, however soon
    long_ago = 1_000_000_000_000_000_000  # 2001-09-09, in ns
    os.utime(made, ns=(long_ago, long_ago))
    kept, inode = made.read_bytes(), made.stat().st_ino
    svg(tmp_path / "qkv")  # the same text again, from its file
    assert made.stat().st_mtime_ns == long_ago  # not written
    assert made.stat().st_ino == inode and made.read_bytes() == kept  # nor replaced
    monkeypatch.setattr(PangoUtils, "remove_last_M", staticmethod(manimpangos))
    svg(tmp_path / "qkv")
    assert ours.__func__ is remove_last_M_in_place_only
    assert made.stat().st_mtime_ns != long_ago  # manimpango's own writes it again


def test_the_drawn_cache_is_linked_where_it_can_be_and_copied_where_not(tmp_path, monkeypatch):
    """Seeding a render's folder links the cache's files (no bytes copied; a render never
    writes into a drawn file that exists); across file systems, where a link fails, it copies
    them; either way the render's folder holds the same bytes."""
    import engine.cache as drawn

    cache = tmp_path / "cache"
    (cache / "texts").mkdir(parents=True)
    (cache / "Tex").mkdir()
    files = {cache / "texts" / "a.svg": b'<svg xmlns="http://www.w3.org/2000/svg"></svg>\n',
             cache / "texts" / "a.pickle": pickle.dumps(["parsed"]),
             cache / "Tex" / "f.svg": b"<svg>formula</svg>"}
    for f, data in files.items():
        f.write_bytes(data)
    drawn.seed_drawn(tmp_path / "linked", cache)
    for f, data in files.items():
        seeded = tmp_path / "linked" / f.parent.name / f.name
        assert seeded.read_bytes() == data
        assert seeded.stat().st_ino == f.stat().st_ino  # a link

    def no_link(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(drawn.os, "link", no_link)
    drawn.seed_drawn(tmp_path / "copied", cache)
    for f, data in files.items():
        seeded = tmp_path / "copied" / f.parent.name / f.name
        assert seeded.read_bytes() == data
        assert seeded.stat().st_ino != f.stat().st_ino  # a copy
    (tmp_path / "work" / "texts").mkdir(parents=True)  # and kept back: copied too
    (tmp_path / "work" / "texts" / "b.pickle").write_bytes(pickle.dumps(["new"]))
    drawn.keep_drawn(tmp_path / "work", cache)
    assert pickle.loads((cache / "texts" / "b.pickle").read_bytes()) == ["new"]
    assert not list(cache.rglob("*.part"))


def test_frames_go_back_to_the_pool_only_when_the_pool_made_them():
    """engine.writer.FramePool: an array given back is taken again (no new memory); an
    array the pool did not make (a frame kept elsewhere) is never handed out; at most
    ``keep`` wait."""
    from engine.writer import FramePool

    pool, like = FramePool(keep=2), np.zeros((4, 6, 4), np.uint8)
    a, b, c = pool.take(like), pool.take(like), pool.take(like)
    assert a.shape == like.shape and len({id(a), id(b), id(c)}) == 3
    pool.give(a)
    assert pool.take(like) is a
    stranger = np.zeros_like(like)
    pool.give(stranger)
    assert pool.take(like) is not stranger
    for frame in (a, b, c):
        pool.give(frame)
    assert {id(pool.take(like)), id(pool.take(like))} == {id(a), id(b)}  # c was not kept
    assert pool.take(np.zeros((2, 2, 4), np.uint8)).shape == (2, 2, 4)  # another size: new


def test_the_encoder_reads_a_frame_where_it_is_and_converts_it_as_from_ndarray_does():
    """engine.writer.rgba_frame: a PyAV frame over the array's own memory (a pixel changed in
    the array shows in the frame: no copy), converted to YUV to the same bytes as a copy
    made by ``from_ndarray``; so is a box cut from it; an array whose pixels within a row
    are not side by side is copied."""
    from engine.writer import rgba_frame

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (36, 64, 4), dtype=np.uint8)
    frame = rgba_frame(pixels)
    pixels[0, 0] = (1, 2, 3, 255)
    assert tuple(frame.to_ndarray()[0, 0]) == (1, 2, 3, 255)
    copy = av.VideoFrame.from_ndarray(pixels, format="rgba")
    assert np.array_equal(frame.reformat(format="yuv420p").to_ndarray(),
                          copy.reformat(format="yuv420p").to_ndarray())
    box = pixels[5:21, 8:40]  # a box of a frame: its rows apart, read in place too
    boxed = rgba_frame(box)
    pixels[5, 8] = (4, 5, 6, 255)
    assert tuple(boxed.to_ndarray()[0, 0]) == (4, 5, 6, 255)
    copied = av.VideoFrame.from_ndarray(np.ascontiguousarray(box), format="rgba")
    assert np.array_equal(boxed.reformat(format="yuv420p").to_ndarray(),
                          copied.reformat(format="yuv420p").to_ndarray())
    strided = pixels[:, ::2]  # every second column: not contiguous
    apart = rgba_frame(strided)
    strided[0, 0] = (9, 9, 9, 255)
    assert tuple(apart.to_ndarray()[0, 0]) == (1, 2, 3, 255)  # a copy, made before


def test_a_box_converted_alone_gives_the_bytes_of_the_whole_frame():
    """engine.writer.Changes on boxes drawn to their very edges (the renderer's boxes have a
    pad; these none), one pixel wide or tall, at odd rows and columns, touching every edge
    of a frame whose width is no multiple of 16: each frame converted box by box is the
    frame converted whole, byte for byte."""
    from engine.writer import FRAMES, Changes

    rng = np.random.default_rng(5)
    h, w = 368, 1000
    background = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    frame = FRAMES.take(background)  # an array of the pool, as the camera draws into
    changes = Changes("yuv420p")
    boxes = [(0, 1, 0, 3), (5, 17, 33, 50), (h - 3, h, w - 7, w), (100, 101, 999, 1000),
             (2, 366, 1, 999), (41, 42, 500, 501), (41, 42, 500, 501)]
    for box in boxes:
        y0, y1, x0, x1 = box
        np.copyto(frame, background)
        frame[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, 4), dtype=np.uint8)
        FRAMES.note(frame, background, box)
        yuv = changes.converted(frame)
        whole = av.VideoFrame.from_ndarray(frame, format="rgba").reformat(format="yuv420p")
        assert np.array_equal(yuv.to_ndarray(), whole.to_ndarray()), box
    assert changes.boxes == len(boxes) - 1  # all but the first, converted whole
    FRAMES.give(frame)


MALLOC_PROBE = """
import ctypes, resource, sys
from engine.writer import keep_freed_memory
libc = ctypes.CDLL(None)
if sys.argv[1] == "kept":
    assert keep_freed_memory()
else:  # huge pages back on (a process that rendered before, like this test's, passes it on)
    assert libc.prctl(41, 0, 0, 0, 0) == 0
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 12 << 20  # a 1080p frame and a half
block = libc.malloc(size); ctypes.memset(block, 1, size); libc.free(block)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = libc.malloc(size); ctypes.memset(block, 1, size); libc.free(block)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
status = open("/proc/self/status").read().split("THP_enabled:")[1].split()[0]
print(faults, status)
"""


def test_memory_the_encoder_frees_is_kept_for_the_next_frame():
    """engine.writer.keep_freed_memory: a 12 MB block freed and allocated again is the same
    memory (no page faults the second time); with glibc's defaults it goes back to the kernel
    and every page faults again (measured: 3,072 faults; none with qkv's settings). And no
    transparent huge pages for the process (the kernel says so in /proc/self/status)."""
    seen = {}
    for how in ("default", "kept"):
        run = subprocess.run([sys.executable, "-c", MALLOC_PROBE, how], capture_output=True,
                             text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__))))
        faults, thp = run.stdout.split()
        seen[how] = int(faults), thp
    assert seen["default"][0] > 1000 and seen["default"][1] == "1", seen
    assert seen["kept"][0] < 200 and seen["kept"][1] == "0", seen


def test_kept_coverage_masks_stay_within_their_bounds(monkeypatch):
    """QkvCamera._keep_mask: at most MASK_BYTES of masks and MASKS_KEPT shapes, the oldest
    going first; a shape remembered again is the newest."""
    import cairo

    import engine.renderer
    from engine.renderer import QkvCamera

    monkeypatch.setattr(engine.renderer, "MASK_BYTES", 3 * 64 * 10)
    monkeypatch.setattr(engine.renderer, "MASKS_KEPT", 5)
    camera = QkvCamera()

    def mask():  # 64 bytes a row, 10 rows
        return cairo.ImageSurface(cairo.FORMAT_A8, 64, 10), 0, 0

    camera._keep_mask("a", False)
    camera._keep_mask("b", mask())
    camera._keep_mask("a", mask())  # filled once before: now a mask, and the newest
    camera._keep_mask("c", mask())
    assert list(camera._masks) == ["b", "a", "c"] and camera._mask_bytes == 3 * 640
    camera._keep_mask("d", mask())  # one mask too many: the oldest goes
    assert list(camera._masks) == ["a", "c", "d"] and camera._mask_bytes == 3 * 640
    for key in "efg":
        camera._keep_mask(key, False)  # shapes filled once: no bytes, but they count
    assert list(camera._masks) == ["c", "d", "e", "f", "g"] and camera._mask_bytes == 2 * 640
