"""qkv, the tool: the ``qkv`` command, rendering (output folders, one render, the explainer in
parts, several at once), captions, decks and the scene registry.

Imports run one way: ``qkv`` -> ``scenes`` (Manim) -> ``attention`` (numpy). Importing this
package, or running ``qkv export``, does not load Manim.
"""
