"""``qkv slides``: the explainer as a slide deck (reveal.js HTML or PowerPoint)."""

from __future__ import annotations

import click

from attention import QKVError
from qkv.commands.common import (
    Interrupted,
    config_option,
    math_options,
    render_options,
    resolve_for_video,
    sentence_argument,
    split,
)
from qkv.options import SLIDES, RenderOptions
from scenes.stages import refusal


@click.command()
@sentence_argument
@click.option("--to", type=click.Choice(["html", "pptx", "pdf"]), default="html",
              show_default=True,
              help="A reveal.js page (works offline), a PowerPoint file, or a PDF handout "
                   "(a page per stop: its picture over its notes).")
@click.option("--one-file", is_flag=True,
              help="HTML: put the videos inside the page instead of in a folder beside it.")
@render_options(SLIDES)
@math_options
@config_option
def slides(sentence, to, one_file, config_path, **values):
    """The explainer as a slide deck: a stop per step, each speaking its narration (unless
    --silent), which is also its speaker notes."""
    from qkv.slides import check_reveal, render_deck

    math, values = split(values)
    options = RenderOptions(**values)
    trace, options = resolve_for_video(sentence, math, config_path, options)
    why = refusal("explainer", trace.config)
    if why:
        raise QKVError(why.replace("--scene explainer", "a deck"))
    if to == "html":
        check_reveal(options.theme)
    if to == "pdf":
        click.echo(f"building a handout for {trace.sentence!r}...", err=True)
    else:
        options.check_voice()  # narrated unless --silent: the voice must be installed
        sound = "silent" if options.silent else "narrated"
        click.echo(f"building a {sound} {to} deck for {trace.sentence!r} at "
                   f"{options.quality} quality...", err=True)
    try:
        paths = render_deck(trace, options, to=to, one_file=one_file)
    except KeyboardInterrupt:
        raise Interrupted from None
    for path in paths:
        click.echo(str(path))

