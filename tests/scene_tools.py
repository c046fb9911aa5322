"""Helpers to build scenes without writing video and to read back what they show."""

import hashlib
import re
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from manim import MathTex, Scene, SingleStringMathTex, Text, tempconfig

from attention.display import display_text, format_number
from engine.renderer import QkvRenderer
from engine.text import Number

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
              scene_kwargs=None, **settings):
    """Run a scene's construct with dry_run (nothing written); return (scene, everything added).

    With ``skip_animations`` every animation jumps to its end state: the same mobjects, the
    same final frame, no per-frame work."""
    with tempconfig({"dry_run": True, "disable_caching": True, "verbosity": "ERROR",
                     "progress_bar": "none", "output_file": str(DRY / "dry"), **LOW, **settings}), \
            recording_adds() as seen:
        scene = scene_cls(trace=trace, theme=theme, skip_animations=skip_animations,
                          renderer=QkvRenderer(skip_animations=skip_animations),
                          **(scene_kwargs or {}))
        scene.qkv_after_play = after_play
        scene.render()
        frame = still_frame(scene)
    return scene, seen, frame


def still_frame(scene) -> np.ndarray:
    """The frame a still hold of the scene shows now, drawn as Manim draws one: everything
    onto a background that already holds everything (so edges come out as in the video)."""
    renderer = scene.renderer
    renderer.static_image = None
    renderer.update_frame(scene)
    renderer.static_image = renderer.get_frame()
    renderer.update_frame(scene)
    return np.array(renderer.get_frame())


TAG = re.compile(r"(?:head(\d+)\.)?([A-Za-z_]+)\[(\d+(?:,\d+)*)\]")


def trace_array(trace, name: str, head: int | None = None):
    """The trace's array called ``name``: a field of the trace (X, the final output, the
    first head's shortcuts Q, K, V, scores...), else of head ``head`` (1-based; default 1)."""
    if head is None and hasattr(trace, name):
        return np.asarray(getattr(trace, name))
    return np.asarray(getattr(trace.heads[(head or 1) - 1], name))


def trace_value(trace, source: str) -> float:
    """The value a Number says it shows, looked up in the trace by its tag: 'Q[2,1]',
    'exp_sums[3]', 'weighted_values[2,5,1]', 'head1.output[2,0]'. 'KT[m,j]' is K[j,m], the
    transposed keys drawn over the score grid."""
    m = TAG.fullmatch(source)
    assert m, f"untagged number {source!r}"
    head, name = (int(m.group(1)) if m.group(1) else None), m.group(2)
    index = tuple(int(k) for k in m.group(3).split(","))
    if name in ("KT", "K_ropeT"):
        name, index = name[:-1], index[::-1]
    if name == "next_tokens":  # a GPT's candidates: the probability of the k-th
        return trace.next_tokens[index[0]].probability
    if name in ("q_pair_at", "score_shifted"):  # the rope stage's example (RopeDemo)
        return float(np.ravel(getattr(trace.rope_demo, name))[
            np.ravel_multi_index(index, np.shape(getattr(trace.rope_demo, name)) or (1,))])
    array = trace_array(trace, name, head)
    assert array.ndim == len(index), source
    return float(array[index])


def numbers_in(mobjects):
    return [m for m in mobjects if isinstance(m, Number)]


def check_numbers(trace, mobjects) -> set:
    """Assert that every Number shows its trace entry at the precision shown; return the set
    of array names shown."""
    names = set()
    for num in numbers_in(mobjects):
        expected = format_number(trace_value(trace, num.qkv_source), num.qkv_digits)
        assert num.text == expected, (num.qkv_source, num.text, expected)
        names.add(TAG.fullmatch(num.qkv_source).group(2))
    return names


def _outline(points: np.ndarray) -> list[np.ndarray]:
    """A VMobject's cubic Bézier points as closed polygons ([k, 2] each, one per contour),
    each curve sampled at 9 points: the same shape gives the same polygons however Manim
    has split its curves (an animation re-samples the curves of what it transforms)."""
    segments = points.reshape(-1, 4, 3)[:, :, :2]
    t = np.linspace(0, 1, 9)[None, :, None]
    a, b, c, d = (segments[:, k:k + 1] for k in range(4))
    curve = (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d
    polygons, current = [], []
    for k, seg in enumerate(curve):
        if current and np.abs(segments[k, 0] - segments[k - 1, 3]).max() > 1e-6:
            polygons.append(np.concatenate(current))
            current = []
        current.append(seg)
    if current:
        polygons.append(np.concatenate(current))
    return polygons


RASTER = 120  # pixels per scene unit at font size 48


def _raster(polygons: list[np.ndarray], centre: np.ndarray, scale: float) -> np.ndarray:
    """The filled shape (even-odd, as glyph contours with holes are drawn) on a 96 x 96 grid
    about ``centre``, at size 48."""
    from PIL import Image, ImageChops, ImageDraw

    size = 96
    mask = Image.new("1", (size, size), 0)
    for poly in polygons:
        xy = (poly - centre) / scale * RASTER * np.array([1, -1]) + size / 2
        layer = Image.new("1", (size, size), 0)
        ImageDraw.Draw(layer).polygon([tuple(p) for p in xy], fill=1)
        mask = ImageChops.logical_xor(mask, layer)
    return np.asarray(mask, dtype=bool)


def _shape(points: np.ndarray, scale: float):
    """(centre, raster) of an outline drawn at ``scale`` (font size / 48)."""
    polygons = _outline(points)
    every = np.concatenate(polygons)
    centre = (every.min(axis=0) + every.max(axis=0)) / 2
    return centre, _raster(polygons, centre, scale)


@lru_cache(maxsize=None)
def reference_glyph(font: str, ch: str) -> np.ndarray:
    """The shape Pango draws for ``ch`` alone at size 48: made here independently of the glyph
    cache that Number assembles its digits from."""
    (glyph,) = Text(ch, font=font, font_size=48).submobjects
    return _shape(glyph.points, 1.0)[1]


_GLYPH_VERDICTS: dict = {}


def glyph_problems(num: Number) -> list[str]:
    """What a viewer would read differently from ``num.text`` (remembered for a number
    drawn with the very same outlines before: most numbers stay put from beat to beat)."""
    centre = num.get_center()
    outlines = b"".join(np.round(p.points - centre, 5).tobytes()
                        for p in num.family_members_with_points())
    key = (num.qkv_font, num.text, hashlib.blake2b(outlines, digest_size=16).digest())
    if key not in _GLYPH_VERDICTS:
        _GLYPH_VERDICTS[key] = _glyph_problems(num)
    return [f"{num.qkv_source}{p}" for p in _GLYPH_VERDICTS[key]]


def glyph_outlines(num: Number) -> list[list[np.ndarray]]:
    """The glyphs a Number draws, left to right, each as its closed outlines (Bézier points):
    its contours, empty ones and exact repeats left out, grouped where they overlap
    left to right (the glyphs of a monospaced font never do; a 0 and its hole do)."""
    tiny = 1e-3 * num.font_size / 48
    contours = {}
    for piece in num.family_members_with_points():
        for a, b in piece.get_subpath_split_indices_from_points(piece.points):
            c = piece.points[a:b]
            lo, hi = c.min(axis=0), c.max(axis=0)
            if len(c) >= 4 and (hi - lo)[:2].max() >= tiny:
                contours.setdefault(tuple(np.round(np.r_[lo, hi][[0, 1, 3, 4]] / tiny)), c)
    glyphs: list[list[np.ndarray]] = []
    right = -np.inf
    for c in sorted(contours.values(), key=lambda c: c[:, 0].min()):
        left_edge, right_edge = c[:, 0].min(), c[:, 0].max()
        if glyphs and left_edge < right - tiny:  # overlaps the glyph before: part of it
            glyphs[-1].append(c)
            right = max(right, right_edge)
        else:
            glyphs.append([c])
            right = right_edge
    return glyphs


def _glyph_problems(num: Number) -> list[str]:
    """The shapes drawn, left to right, must be the glyphs of the number's characters (each
    at least 90% the same pixels), at its size, on one line. A shape drawn twice in one
    place (an animation may leave a duplicate behind to match another number's glyph count)
    is read once. Problems start with ': ' (the caller puts the number's tag before)."""
    scale = num.font_size / 48
    shapes = {}
    for outlines in glyph_outlines(num):
        centre, raster = _shape(np.concatenate(outlines), scale)
        shapes.setdefault((round(centre[0] / scale, 2), round(centre[1] / scale, 2)),
                          (centre, raster))
    drawn = sorted(shapes.values(), key=lambda s: s[0][0])
    chars = [c for c in num.text if c.strip()]
    if len(drawn) != len(chars):
        return [f": {len(drawn)} glyphs drawn for {num.text!r}"]
    problems = []
    for (_, raster), ch in zip(drawn, chars):
        ref = reference_glyph(num.qkv_font, ch)
        overlap = (raster & ref).sum() / max((raster | ref).sum(), 1)
        if overlap < 0.9:
            problems.append(f": a glyph of {num.text!r} is not {ch!r} ({overlap:.0%} alike)")
    rows = [c[1] for (c, _), ch in zip(drawn, chars) if ch.isdigit()]
    if rows and max(rows) - min(rows) > 0.05 * scale:
        problems.append(f": the digits of {num.text!r} are not on one line")
    return problems


# The rows and columns of a plain block tagged NAME[i,j]: what its labels must say.
AXES = {"X": ("token", "feature"), "P": ("token", "feature"), "X_in": ("token", "feature"),
        "Wq": ("feature", "dim"), "Wk": ("feature", "dim"),
        "Wv": ("feature", "dim"), "KT": ("dim", "token"), "K_ropeT": ("dim", "token"),
        **{n: ("token", "dim") for n in ("Q", "K", "V", "output", "Q_rope")},
        **{n: ("token", "token") for n in ("scores", "scaled", "exps", "weights")}}


def _axis_label(trace, kind: str, k: int) -> str | None:
    if kind == "token":
        return trace.tokens[k]
    if kind == "feature":
        return trace.feature_names[k]
    return trace.attention_dims[k] if trace.attention_dims else None


def _same_label(label, full: str) -> bool:
    """Whether the drawn label ``label`` (a Text) says ``full``, or its start and '…'."""
    shown, full = label.original_text, display_text(full)
    return shown == full or (shown.endswith("\u2026") and full.startswith(shown[:-1].rstrip()))


def cell_problems(trace, num: Number) -> list[str]:
    """A number drawn in a matrix must sit inside its own cell, and in a plain block
    (tagged NAME[i,j] at cell (i, j)) under the labels of its row and column."""
    block, r, c = num.qkv_cell
    centre, dx, dy = block.cell_center(r, c), block.cell_w / 2, block.cell_h / 2
    x, y = num.get_center()[:2]
    problems = []
    if not (abs(x - centre[0]) < dx and abs(y - centre[1]) < dy):
        problems.append(f"{num.qkv_source} is drawn outside its cell ({r}, {c})")
    m = TAG.fullmatch(num.qkv_source)
    if isinstance(block.source, str) and block.source and m.group(2) in AXES:
        index = tuple(int(k) for k in m.group(3).split(","))
        own = (block.row_index[r], block.col_index[c])  # the array's indices of the cell shown
        if index != own:
            problems.append(f"{num.qkv_source} sits in cell ({r}, {c}), which shows {own}")
        kinds = AXES[m.group(2)]
        for labels, kind, k, o in ((block.row_labels, kinds[0], r, own[0]),
                                   (block.col_labels, kinds[1], c, own[1])):
            want = _axis_label(trace, kind, o)
            if len(labels) and want is not None and not _same_label(labels[k], want):
                problems.append(f"{num.qkv_source} is under the label "
                                f"{labels[k].original_text!r}, not {want!r}")
    return problems


def on_screen_numbers(scene) -> list[Number]:
    return [m for top in scene.mobjects for m in top.get_family() if isinstance(m, Number)]


def drawn_number_problems(trace, scene) -> list[str]:
    """Every Number on screen now: the value its text says is the trace's, its glyphs spell
    that text, and a matrix entry sits in its cell under its row's and column's labels."""
    problems = []
    for num in on_screen_numbers(scene):
        expected = format_number(trace_value(trace, num.qkv_source), num.qkv_digits)
        if num.text != expected:
            problems.append(f"{num.qkv_source} says {num.text}, the trace {expected}")
        problems += glyph_problems(num)
        if hasattr(num, "qkv_cell"):
            problems += cell_problems(trace, num)
    return problems


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


def bounds(m) -> np.ndarray:
    """[[left, bottom], [right, top]] of ``m`` as Manim's get_left()... give them (the anchors
    of every curve of its family), in one pass instead of four."""
    from manim import VMobject

    family = m.family_members_with_points()
    pts = [p.points[0::4] for p in family] + \
          [p.points[3::4] if isinstance(p, VMobject) and len(p.points) > 1 else p.points
           for p in family]
    every = np.concatenate(pts)[:, :2]
    return np.array([every.min(axis=0), every.max(axis=0)])


def overlapping_pairs(mobs, tol: float = 0.01):
    """Pairs of mobjects whose bounding boxes overlap by more than ``tol`` on both axes."""
    if not mobs:
        return []
    boxes = np.array([bounds(m) for m in mobs])
    lo, hi = boxes[:, 0] + tol, boxes[:, 1] - tol
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
            if len(m.points):
                (x0, y0), (x1, y1) = bounds(m)
                if not (-w <= x0 and x1 <= w and -h <= y0 and y1 <= h):
                    problems.append(f"outside the frame: {m!r}")
    texts = text_mobjects(scene)
    for a, b in overlapping_pairs(texts):
        problems.append(f"overlap: {getattr(a, 'text', a)!r} / {getattr(b, 'text', b)!r}")
    for m in texts:
        floor = min_number if hasattr(m, "qkv_value") else min_text
        size = m.font_size  # Manim's reads the height: of a label turned sideways, its width
        if getattr(m, "qkv_turned", False) and m.height > 0:
            size *= m.width / m.height
        if size < floor:
            problems.append(f"too small ({size:.1f}): {getattr(m, 'text', m)!r}")
    return problems
