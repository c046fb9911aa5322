"""Everything in qkv that patches or subclasses Manim's internals, and nothing else.

``renderer`` (the Cairo renderer and camera), ``writer`` (the file writer's encoder),
``text`` (glyph and text caches, the Number mobject), ``fades`` (fades by colours alone) and
``cache`` (the drawn cache and manimpango's SVG rewrite). engine/README.md lists which Manim
internals each depends on and how to check them after an upgrade. Importing the package
loads no Manim; its modules do (except ``cache``).
"""
