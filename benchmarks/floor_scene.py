"""The floor: a scene with nothing to draw, as long as QKV_FLOOR_SECONDS. What Manim and the
encoder cost on their own, for the benchmark to compare against."""

import os

from manim import Scene

from scenes.theme import DARK


class FloorScene(Scene):
    def construct(self):
        self.camera.background_color = DARK.background
        self.wait(float(os.environ.get("QKV_FLOOR_SECONDS", "10")))
