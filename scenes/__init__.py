"""qkv's Manim scenes. Importing this package is cheap: scene modules import manim themselves."""
