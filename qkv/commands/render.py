"""``qkv render``: a scene (or all of them) to ``<out>/<sentence>/<scene>.<format>``."""

from __future__ import annotations

import os
from dataclasses import replace

import click

from attention import QKVError
from qkv.commands.common import (
    Interrupted,
    config_option,
    math_options,
    progress,
    render_options,
    resolve_for_video,
    sentence_argument,
    split,
)
from qkv.options import RENDER, RenderOptions
from qkv.registry import DEFAULT_SCENE, SCENES
from scenes.stages import applicable, refusal

ALL = "all"  # --scene all: every scene the options have something for


@click.command()
@sentence_argument
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="the number of cores",
              help="Processes at once: scenes side by side; the mp4 explainer in parts.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Draw on a Dask cluster instead: tcp://HOST:PORT, HOST:PORT or a scheduler "
                   "file (the mp4 explainer in a part per worker).")
@render_options(RENDER)
@math_options
@config_option
def render(sentence, jobs, scheduler, config_path, **values):
    """Render a scene to <out>/<sentence>/<scene>.<format>, with captions (.srt, .vtt) and a
    transcript (.txt)."""
    if scheduler is not None:
        from qkv.batch import scheduler_address

        scheduler = scheduler_address(scheduler)  # a bad one before anything starts
    math, values = split(values)
    scene = values.pop("scene")
    options = RenderOptions(scene=DEFAULT_SCENE if scene == ALL else scene, **values)
    trace, options = resolve_for_video(sentence, math, config_path, options)
    why = refusal(scene, trace.config) if scene != ALL else None
    if why:
        raise QKVError(why)
    names = [s for s in SCENES if applicable(s, trace.config)] if scene == ALL else [scene]
    options = replace(options, scene=names[0])
    options.check_voice()
    click.echo(f"rendering {', '.join(names)} for {trace.sentence!r} at {options.quality} "
               "quality...", err=True)
    try:
        paths = render_with_progress(trace, options, names, jobs, scheduler)
    except KeyboardInterrupt:
        raise Interrupted from None  # before click, which would print a bare newline
    for path in paths:
        click.echo(str(path))


def render_with_progress(trace, options, names, jobs, scheduler=None):
    """One progress bar over the whole render (on a terminal; nothing in a pipe or a log)."""
    from rich.console import Console

    from qkv.pool import render_scenes

    def run(on_done=None):
        if scheduler is not None:
            from qkv.cluster import render_on_cluster

            return render_on_cluster(trace, options, names, scheduler, on_done=on_done)
        return render_scenes(trace, options, names, jobs=jobs, on_done=on_done)

    console = Console(stderr=True)
    if not console.is_terminal:
        return run()
    with progress(console) as bar:
        task = bar.add_task("rendering", total=len(names))
        return run(on_done=lambda name: bar.advance(task))
