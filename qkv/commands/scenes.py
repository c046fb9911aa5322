"""``qkv scenes``: the scene names ``qkv render --scene`` takes."""

from __future__ import annotations

import click

from qkv.registry import SCENES


@click.command("scenes")
def list_scenes():
    """List the scenes that 'qkv render --scene' takes."""
    width = max(map(len, SCENES))
    for name, (_, summary) in SCENES.items():
        click.echo(f"{name:<{width}}  {summary}")
