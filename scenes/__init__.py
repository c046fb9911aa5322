"""qkv's Manim scenes: the stages, the explainer, shared mobjects, layout and theme. They read
an ``attention.AttentionTrace`` and draw; they never compute math, and never import ``qkv``.
Importing this package is cheap: scene modules import manim themselves."""
