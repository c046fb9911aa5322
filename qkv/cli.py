"""The ``qkv`` command: ``qkv export``, ``qkv render``, ``qkv slides``, ``qkv batch``,
``qkv scenes``, and ``qkv --version``.

Every problem with the input ends in one line ``error: ...`` that says how to fix it, exit
status 2, and no file written.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from click.core import ParameterSource

from attention import DEFAULT_SENTENCE, MATH_OPTIONS, AttentionConfig, QKVError, compute_config
from attention.config_file import load_config
from attention.export import FORMATS as DATA_FORMATS
from attention.worksheet import FORMATS as SHEET_FORMATS
from qkv import interrupt
from qkv.output import check_folder, check_out, write_atomically
from qkv.registry import DEFAULT_SCENE, SCENES, VIDEO_FORMATS
from scenes.stages import applicable, refusal

EXPORT_FORMATS = {**DATA_FORMATS, **SHEET_FORMATS}  # and pdf, written by pdflatex


def _click_option(o):
    """A click option for a math option: ``--name/--no-name`` for a yes/no option, else
    ``--name VALUE``."""
    show = o.default is not None
    if o.kind is bool:
        return click.option(f"--{o.name}/--no-{o.name}", default=o.default, help=o.help,
                            show_default=f"--{o.name}" if o.default else f"--no-{o.name}")
    kind = click.Choice(o.choices) if o.choices else o.kind
    return click.option(f"--{o.name}", type=kind, default=o.default, metavar=o.metavar,
                        help=o.help, show_default=show)


def math_options(f):
    """The math options shared by every command that computes a trace, one per field of
    AttentionConfig (attention.core.MATH_OPTIONS)."""
    for o in reversed(MATH_OPTIONS):
        f = _click_option(o)(f)
    return f


def output_options(f):
    """Where and how videos are made, shared by ``render`` and ``slides``."""
    options = [
        click.option("--quality", type=click.Choice(["low", "medium", "high", "4k"]),
                     default="medium", show_default=True,
                     help="480p15, 720p30, 1080p60 or 2160p60."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("renders"), show_default=True,
                     help="Root folder; each sentence gets a folder inside it."),
        click.option("--theme", type=click.Choice(["dark", "light"]), default="dark",
                     show_default=True),
        click.option("--verbose", is_flag=True, help="Show Manim's own log and progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def narration_options(f):
    """The voice and the captions of a video, shared by ``render`` and ``batch``."""
    options = [
        click.option("--silent", is_flag=True,
                     help="No spoken narration (mp4, webm and mov are narrated; gif is not)."),
        click.option("--voice-speed", type=float, default=1.0, show_default=True,
                     metavar="0.8-1.25", help="How fast the narrator reads."),
        click.option("--burn-captions", is_flag=True,
                     help="Draw the captions in a band under the picture."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def config_option(f):
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        help="A TOML file with the sentence, options and your own numbers.")(f)


def resolve(sentence, math: dict, config_path, theme=None):
    """Merge --config with the command line: an option given on the command line wins, a
    value from the file beats the built-in default. Returns (trace, theme)."""
    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    custom = None
    if config_path:
        cfg = load_config(config_path)
        custom = cfg.custom
        if cfg.sentence is not None and not given("sentence"):
            sentence = cfg.sentence
        if cfg.theme is not None and theme is not None and not given("theme"):
            theme = cfg.theme
        math = {**math, **{k: v for k, v in cfg.math.items() if not given(k)}}
    return compute_config(sentence, AttentionConfig(**math), custom), theme


def resolve_for_video(sentence, math: dict, config_path, theme, out: Path):
    """resolve(), then refuse what would fail only after minutes of rendering: a word no
    installed font can draw, an --out that cannot be written in."""
    from qkv.fonts import check_drawable

    trace, theme = resolve(sentence, math, config_path, theme)
    check_drawable(trace)
    check_out(out)
    return trace, theme


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qkv", message="%(prog)s %(version)s")
def cli():
    """Turn a sentence into videos that explain self-attention, with every number computed."""


@cli.command()
@click.argument("sentence", required=False, default=DEFAULT_SENTENCE)
@click.option("--format", "fmt", type=click.Choice([*EXPORT_FORMATS, "pdf"]), default="json",
              show_default=True,
              help="json or csv: every matrix as data; md, tex or pdf: a worksheet to print.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output (pdf needs one).")
@math_options
@config_option
def export(sentence, fmt, output, config_path, **math):
    """Every matrix of the computation (X, W, Q, K, V, scores, weights, output) as data, or
    as a worksheet with one dot product and one softmax row worked through."""
    if fmt == "pdf" and output is None:
        raise QKVError("--format pdf writes a file; add --output worksheet.pdf")
    trace, _ = resolve(sentence, math, config_path)
    if trace.model is not None and fmt not in ("json", "csv"):
        raise QKVError(f"worksheets (--format {fmt}) are not built for --model "
                       f"{trace.config.model} yet; use --format json or csv")
    if fmt == "pdf":
        from attention.worksheet import to_pdf

        check_folder(output)
        write_atomically(output, to_pdf(trace))
        return
    text = EXPORT_FORMATS[fmt](trace)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)


@cli.command()
@click.argument("sentence", required=False, default=DEFAULT_SENTENCE)
@click.option("--scene", type=click.Choice([*SCENES, "all"]), default=DEFAULT_SCENE,
              show_default=True, help="Which scene to render (see 'qkv scenes'), or all.")
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="the number of cores",
              help="Processes at once: scenes side by side; the mp4 explainer in parts.")
@output_options
@click.option("--format", "fmt", type=click.Choice(list(VIDEO_FORMATS)), default="mp4",
              show_default=True, help="Video format, or png for the last frame as a still.")
@click.option("--transparent", is_flag=True, help="Transparent background (webm or mov).")
@click.option("--fps", type=int, default=None, help="Frames per second (default: the quality's).")
@click.option("--sections", is_flag=True,
              help="Also write one clip per section (the explainer's stages).")
@narration_options
@math_options
@config_option
def render(sentence, scene, jobs, quality, out, theme, fmt, transparent, fps, sections, verbose,
           silent, voice_speed, burn_captions, config_path, **math):
    """Render a scene to <out>/<sentence>/<scene>.<format>, with captions (.srt, .vtt) and a
    transcript (.txt)."""
    from qkv.render import RenderOptions

    trace, theme = resolve_for_video(sentence, math, config_path, theme, out)
    why = refusal(scene, trace.config) if scene != "all" else None
    if why:
        raise QKVError(why)
    names = [s for s in SCENES if applicable(s, trace.config)] if scene == "all" else [scene]
    options = RenderOptions(scene=names[0], quality=quality, out=out, theme=theme, fmt=fmt,
                            transparent=transparent, fps=fps, sections=sections,
                            verbose=verbose, silent=silent, voice_speed=voice_speed,
                            burn_captions=burn_captions)
    options.check_voice()
    click.echo(f"rendering {', '.join(names)} for {trace.sentence!r} at {quality} quality...",
               err=True)
    try:
        paths = render_with_progress(trace, options, names, jobs)
    except KeyboardInterrupt:
        raise Interrupted from None  # before click, which would print a bare newline
    for path in paths:
        click.echo(str(path))


def render_with_progress(trace, options, names, jobs):
    """One progress bar over the whole render (on a terminal; nothing in a pipe or a log)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from qkv.pool import render_scenes

    console = Console(stderr=True)
    if not console.is_terminal:
        return render_scenes(trace, options, names, jobs=jobs)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("rendering", total=len(names))
        return render_scenes(trace, options, names, jobs=jobs,
                             on_done=lambda name: progress.advance(task))


@cli.command()
@click.argument("sentence", required=False, default=DEFAULT_SENTENCE)
@click.option("--to", type=click.Choice(["html", "pptx"]), default="html", show_default=True,
              help="A reveal.js page (works offline) or a PowerPoint file.")
@click.option("--one-file", is_flag=True,
              help="HTML: put the videos inside the page instead of in a folder beside it.")
@output_options
@math_options
@config_option
def slides(sentence, to, one_file, quality, out, theme, verbose, config_path, **math):
    """The explainer as a slide deck: a stop per step, the narration as speaker notes."""
    from qkv.render import RenderOptions
    from qkv.slides import check_reveal, render_deck

    trace, theme = resolve_for_video(sentence, math, config_path, theme, out)
    why = refusal("explainer", trace.config)
    if why:
        raise QKVError(why.replace("--scene explainer", "a deck"))
    if to == "html":
        check_reveal(theme)
    options = RenderOptions(quality=quality, out=out, theme=theme, verbose=verbose)
    click.echo(f"building a {to} deck for {trace.sentence!r} at {quality} quality...", err=True)
    try:
        paths = render_deck(trace, options, to=to, one_file=one_file)
    except KeyboardInterrupt:
        raise Interrupted from None
    for path in paths:
        click.echo(str(path))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scene", type=click.Choice(list(SCENES)), default=DEFAULT_SCENE,
              show_default=True, help="The scene of every row that names none.")
@click.option("--format", "fmt", type=click.Choice(list(VIDEO_FORMATS)), default="mp4",
              show_default=True, help="The video format of every row that names none.")
@click.option("--fps", type=int, default=None, help="Frames per second (default: the quality's).")
@click.option("--make", type=click.Choice(["video", "still", "deck", "worksheet"]),
              default="video", show_default=True,
              help="What each row makes: a video, a still (png), an HTML deck, a PDF worksheet.")
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="the number of cores", help="Rows at once, in local processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the rows on a Dask cluster, e.g. tcp://127.0.0.1:8786 (needs "
                   "qkv[cluster]); the files are still written here, into --out.")
@click.option("--strict", is_flag=True, help="Refuse the whole file if any row is bad.")
@click.option("--force", is_flag=True, help="Make every row again, even those already done.")
@output_options
@narration_options
@math_options
def batch(file, scene, fmt, fps, make, jobs, scheduler, strict, force, quality, out, theme,
          verbose, silent, voice_speed, burn_captions, **math):
    """Many sentences at once, from a .csv (a 'sentence' column and any option as a column),
    .txt (a sentence a line) or .jsonl FILE. A row's cells override the command line. Rows
    already done are skipped; batch-report.csv and .json in --out say what happened."""
    from qkv.batch import Job

    check_out(out)
    given = {k: v for k, v in math.items()
             if v != next(o.default for o in MATH_OPTIONS if o.name == k)}
    defaults = Job(line=0, sentence="", math=given, scene=scene, quality=quality, fmt=fmt,
                   theme=theme, fps=fps, make=make, silent=silent, voice_speed=voice_speed,
                   burn_captions=burn_captions)
    try:
        results, report = batch_with_progress(file, defaults, out, jobs, scheduler, force,
                                              strict, verbose)
    except KeyboardInterrupt:
        raise Interrupted from None
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    for r in results:
        if r.status == "failed":
            click.echo(f"line {r.line}: failed: {r.error}", err=True)
    click.echo(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} "
               f"failed; report: {report[0]}", err=True)
    if counts["failed"]:
        sys.exit(1)


def batch_with_progress(file, defaults, out, jobs, scheduler, force, strict, verbose):
    """One progress bar over the rows, with the time left (on a terminal only)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn,
                               TimeRemainingColumn)

    from qkv.batch import plan, run_batch

    console = Console(stderr=True)
    kwargs = dict(jobs=jobs, scheduler=scheduler, force=force, strict=strict, verbose=verbose)
    if not console.is_terminal:
        return run_batch(file, defaults, out, **kwargs)
    checked = plan(file, defaults, out, force, strict)  # (once: run_batch takes it)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("rows", total=len(checked.todo))
        return run_batch(file, defaults, out, **kwargs, batch=checked,
                         on_row=lambda _: progress.advance(task))


@cli.command("scenes")
def list_scenes():
    """List the scenes that 'qkv render --scene' takes."""
    width = max(map(len, SCENES))
    for name, (_, summary) in SCENES.items():
        click.echo(f"{name:<{width}}  {summary}")


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a render, after its temporary files were removed."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every expected failure into one line."""
    interrupt.install()  # SIGTERM cleans up like Ctrl-C: temporary files go, old files stay
    try:
        cli.main(args=argv, prog_name="qkv", standalone_mode=False)
    except QKVError as err:
        _fail(str(err), 2)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except (click.Abort, Interrupted):
        _fail("interrupted; no file was written", 130)
    except click.ClickException as err:
        hint = ""
        if isinstance(err, click.UsageError) and err.ctx is not None:
            hint = f" (see '{err.ctx.command_path} --help')"
        _fail(err.format_message() + hint, 2)
    except KeyboardInterrupt:
        _fail("interrupted; no file was written", 130)
    except OSError as err:
        _fail(f"{err.strerror or err}: {err.filename or ''}".rstrip(": "), 1)


def _fail(message: str, status: int) -> None:
    click.echo("error: " + " ".join(str(message).split()), err=True)
    sys.exit(status)
