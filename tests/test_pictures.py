"""engine/pictures.py: shapes faded as one picture (a stage's closing fade)."""

from __future__ import annotations

import numpy as np
import pytest


def _frames(build, size=(320, 180), fps=10):
    """Every frame ``build(scene)`` plays (a scene's construct), as floats, and the scene."""
    from manim import Scene, tempconfig

    from engine.renderer import QkvRenderer
    from engine.writer import FRAMES

    frames = []

    class Built(Scene):
        def construct(self):
            build(self)

    with tempconfig({"pixel_width": size[0], "pixel_height": size[1], "frame_rate": fps,
                     "disable_caching": True, "write_to_movie": False,
                     "verbosity": "ERROR", "progress_bar": "none"}):
        renderer = QkvRenderer()
        add = renderer.add_frame

        def add_frame(frame, num_frames=1):
            frames.extend([frame[:, :, :3].astype(np.float64)] * num_frames)
            add(frame, num_frames)
            FRAMES.give(frame)

        renderer.add_frame = add_frame
        scene = Built(renderer=renderer)
        scene.render()
    scene.restored = renderer.camera.boxes_restored
    return frames, scene


def _scene_frames(fade, size=(320, 180), fps=10, counts: list | None = None):
    """The frames of a scene that shows a few shapes over a static circle, then fades them
    (``fade(shapes)``: the animation) in one second with a linear rate: the frame just
    before (the shapes drawn), the fade's, and the one after (the circle alone)."""
    from manim import DOWN, LEFT, RIGHT, UP, Circle, LineJointType, Polygon, Square, Text, VGroup
    from manim import linear

    def build(scene):
        scene.add(Circle(2.5, color="#555555"))
        cell = Square(1.6, fill_opacity=1, color="#e0c040").shift(LEFT)
        glass = Square(1.2, fill_opacity=0.5, color="#3d5a80").shift(LEFT * 0.3 + UP * 0.3)
        word = Text("0.86", font_size=36, color="#101010").move_to(cell)
        wedge = Polygon(LEFT * 2 + DOWN * 1.2, RIGHT * 1.5 + DOWN * 0.8,
                        RIGHT * 1.5 + DOWN * 1.6, stroke_width=14, color="#ffffff")
        wedge.joint_type = LineJointType.MITER  # its tip reaches far past its points
        shapes = VGroup(cell, glass, word, wedge).shift(RIGHT * 0.4)
        scene.add(shapes)
        scene.wait(1 / fps)
        scene.play(fade([shapes]), run_time=1, rate_func=linear)
        scene.wait(1 / fps)

    frames, scene = _frames(build, size, fps)
    if counts is not None:
        counts.append(scene.restored)
    return frames[0], frames[1:-1], frames[-1]


def _near(a, b) -> bool:
    """Whether two frames are the same but for rounding: no channel more than 2 levels (of
    255) apart but in a few antialiased edge pixels, and those at most 10. (Cairo 1.16 does
    not always rasterise a shape the same on a surface whose top edge is another row: a
    glyph's edge pixel can come out a few levels apart.)"""
    d = np.abs(a - b).max(axis=2)
    return (d > 2).mean() <= 0.001 and d.max() <= 10


def _blend_errors(frames, drawn, empty):
    """Whether each frame is the drawn frame and the empty one mixed by the fade's opacity
    then (linear: 1 - t, a frame at t = 0, 0.1, ..., 0.9), but for rounding (:func:`_near`)."""
    n = len(frames)
    return [not _near(f, a * drawn + (1 - a) * empty)
            for f, a in zip(frames, 1 - np.arange(n) / n)]


@pytest.mark.parametrize("boxes", [False, True])
def test_a_picture_fades_as_its_drawn_shapes_mixed_with_what_is_under_them(boxes, monkeypatch):
    """Each frame of the fade is the shapes as drawn, mixed with the frame without them by
    the opacity (what fading a picture means), to a level of rounding; with ``boxes`` the
    frames get back only the picture's box (engine/renderer.py, as from 1080p up): nothing
    stale outside it. Manim's FadeOut of the same shapes (each faded alone: the cell shows
    through the number) is not such a mix: the check tells them apart."""
    from manim import FadeOut

    import engine.renderer
    from engine.pictures import FadeAwayAsOne

    if boxes:
        monkeypatch.setattr(engine.renderer, "BOX_FROM", 0)
    size, counts = (320, 180), []
    drawn, fading, empty = _scene_frames(lambda m: FadeAwayAsOne.of(m), size, counts=counts)
    assert len(fading) == 10 and np.abs(drawn - empty).max() > 200
    assert (counts[0] >= 8) == boxes  # frames that got back only the picture's box
    assert not any(_blend_errors(fading, drawn, empty))
    drawn, fading, empty = _scene_frames(lambda m: FadeOut(*m), size)
    assert sum(_blend_errors(fading, drawn, empty)) >= 8


def test_manims_camera_draws_a_picture_as_its_image():
    """A camera that does not know pictures (Manim's) draws one as the image it gives
    (straight alpha, at its opacity), where its shapes are, to a level or two of rounding
    (no fringe of the background colour at the edges)."""
    from manim import LEFT, Camera, Square, Text, VGroup, tempconfig

    from engine.pictures import Picture, pictured
    from engine.renderer import QkvCamera

    with tempconfig({"pixel_width": 640, "pixel_height": 360}):
        cell = Square(1.6, fill_opacity=1, color="#e0c040").shift(LEFT)
        shapes = VGroup(cell, Text("0.86", font_size=36, color="#101010").move_to(cell))
        for opacity in (1.0, 0.5):
            picture = Picture(pictured([shapes])).set_opacity(opacity)
            ours, manims = QkvCamera(), Camera()
            ours.capture_mobjects([picture])
            manims.capture_mobjects([picture])
            a = ours.pixel_array[:, :, :3].astype(int)
            b = manims.pixel_array[:, :, :3].astype(int)
            assert np.abs(a - b).max() <= 3  # (its box on whole pixels: no resampling)
            assert np.abs(a - ours.background[:, :, :3]).max() > 100 * opacity
        twin = picture.copy()  # (its layers are not copied: made again when drawn)
        again = QkvCamera()
        again.capture_mobjects([twin])
        assert twin.shapes == picture.shapes and np.array_equal(again.pixel_array,
                                                                 ours.pixel_array)


def test_only_shapes_become_a_picture():
    """An image among them (a trained model's heat map) or a shape filled with an image:
    no picture (the stage fades shape by shape, as before)."""
    from manim import ImageMobject, Square, VGroup

    from engine.pictures import FadeAwayAsOne, pictured

    square = Square()
    assert pictured([VGroup(square)]) == [square]
    image = ImageMobject(np.zeros((4, 4, 4), dtype=np.uint8))
    assert pictured([square, image]) is None
    assert FadeAwayAsOne.of([square, image]) is None
    assert pictured([Square().color_using_background_image("x.png")]) is None
    assert pictured([VGroup()]) is None


def test_a_stage_ends_with_one_picture_in_the_place_of_its_mobjects(monkeypatch):
    """The explainer's closing fade: everything on screen goes, the pictures stand alone
    while they fade, and afterwards the screen is empty."""
    from manim import Square, Text, VGroup

    from attention import compute
    from engine.pictures import Picture
    from scenes.explainer import ExplainerScene

    scene = ExplainerScene(trace=compute("Cats chase mice"))
    shapes = [Square(fill_opacity=1), VGroup(Text("a"), Square().shift([2, 0, 0]))]
    scene.add(*shapes)
    seen = []
    monkeypatch.setattr(type(scene), "update_to_time",
                        lambda self, t: seen.append(list(self.mobjects)))
    scene.clear_stage()
    assert seen and all(len(m) == 1 and all(isinstance(p, Picture) for p in m[0].submobjects)
                        for m in seen)
    assert scene.mobjects == []


def test_grids_cross_faded_as_pictures_look_as_faded_number_by_number():
    """Numbers that do not overlap (a grid's) faded as pictures, row by row in a LaggedStart
    with heat cells under them (z-index -1, under the grid's lines), give the frames of the
    same fades shape by shape, to a level of rounding; afterwards the new numbers and cells
    are in the scene (where the pictures stood) and the old ones are not."""
    from manim import AnimationGroup, Line, LaggedStart, Square, Text, VGroup, linear

    from engine.fades import FadeInPlace, cross_fade, fade_in
    from engine.pictures import FadeInAsOne, fade_in_as_one

    def grid(values, colour):
        return [VGroup(*(Text(f"{v:.2f}", font_size=18, color=colour)
                         .move_to([1.1 * c - 2, 1 - 0.6 * r, 0]) for c, v in enumerate(row)))
                for r, row in enumerate(values)]

    def build(pictures):
        def play(scene):
            rng = np.random.default_rng(3)
            old, new = grid(rng.random((3, 4)), "#dddddd"), grid(rng.random((3, 4)), "#ffee88")
            heat = [VGroup(*(Square(0.55, fill_opacity=0.9, stroke_width=0, color="#3d5a80")
                             .move_to(n).set_z_index(-1) for n in row)) for row in new]
            lines = VGroup(*(Line([-2.6, 1.3 - 0.6 * r, 0], [2.2, 1.3 - 0.6 * r, 0])
                             for r in range(4)))
            scene.add(lines, *old)
            fade = fade_in_as_one if pictures else (lambda ms: FadeInPlace(VGroup(*ms)))
            if not pictures:
                def cross(a, b, **k):
                    from engine.fades import FadeAway
                    return AnimationGroup(FadeAway(a, introducer=True), FadeInPlace(b))
            else:
                cross = cross_fade
            scene.play(LaggedStart(*(AnimationGroup(fade([heat[r]]),
                                                    cross(old[r], new[r], to_front=True))
                                     for r in range(3)), lag_ratio=0.5),
                       run_time=1.5, rate_func=linear)
            scene.wait(0.2)
            scene.kept = (old, new, heat)
        return play

    ours, scene = _frames(build(True))
    theirs, _ = _frames(build(False))
    assert len(ours) == len(theirs) == 17
    assert all(_near(a, b) for a, b in zip(ours, theirs))
    assert np.array_equal(ours[-1], theirs[-1]) and np.abs(ours[7] - ours[-1]).max() > 100
    old, new, heat = scene.kept
    on = scene.get_mobject_family_members()
    assert all(n in on for row in new for n in row) and all(h in on for row in heat for h in row)
    tops = [m for m in scene.mobjects if m in (*new, *heat)]  # each where its picture stood
    assert tops == [x for r in range(3) for x in (heat[r], new[r])]
    assert not any(o in on for row in old for o in row)
    assert all(isinstance(fade_in_as_one([row]), FadeInAsOne) for row in new)
    assert not isinstance(fade_in_as_one([Text("x").add_updater(lambda m: m)]), FadeInAsOne)


def test_a_group_whose_parts_were_added_one_by_one_fades_out_whole():
    """As Manim's FadeOut of a group: its parts, added to the scene each on its own, all
    leave (the scene's own remove takes only what is named), and nothing else does."""
    from manim import Circle, Scene, Square, VGroup

    from engine.pictures import fade_in_as_one, fade_out_as_one

    a, b, other = Square(), Circle(), Square().shift([3, 0, 0])
    group = VGroup(a, b)
    scene = Scene()
    scene.add(a, other, b)
    fade = fade_out_as_one([group])
    fade._setup_scene(scene)
    fade.begin()
    fade.finish()
    fade.clean_up_from_scene(scene)
    assert scene.mobjects == [other]
    fade = fade_in_as_one([group])
    scene.add(a)  # a part already on screen: taken out, then back with its group
    fade._setup_scene(scene)
    fade.begin()
    fade.finish()
    fade.clean_up_from_scene(scene)
    assert scene.mobjects == [other, group]
