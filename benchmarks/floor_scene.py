"""The floor: a scene with nothing to draw, as long as asked. What Manim and the encoder cost
on their own, for the benchmarks to compare against.

    python benchmarks/floor_scene.py QUALITY OUT_DIR SECONDS

renders it with qkv's file writer (engine/writer.py; QKV_X264=manim: Manim's own), as
``qkv render`` does. (``manim benchmarks/floor_scene.py FloorScene`` with QKV_FLOOR_SECONDS
renders it with Manim's CLI.)
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from manim import Scene  # noqa: E402

from scenes.theme import DARK  # noqa: E402


class FloorScene(Scene):
    def construct(self):
        self.camera.background_color = DARK.background
        self.wait(float(os.environ.get("QKV_FLOOR_SECONDS", "10")))


if __name__ == "__main__":
    from manim import tempconfig
    from manim.renderer.cairo_renderer import CairoRenderer

    from engine.writer import QkvFileWriter
    from qkv.render import QUALITIES

    quality, out, seconds = sys.argv[1:4]
    w, h, fps = QUALITIES[quality]
    os.environ["QKV_FLOOR_SECONDS"] = seconds
    with tempconfig({"media_dir": out, "pixel_width": w, "pixel_height": h, "frame_rate": fps,
                     "disable_caching": True, "verbosity": "ERROR", "progress_bar": "none"}):
        FloorScene(renderer=CairoRenderer(file_writer_class=QkvFileWriter)).render()
