"""What the commands share: their options, derived (the math options from
``attention.MATH_OPTIONS``, the render options from ``qkv.options.RenderOptions``, each command
taking those whose field names it), and the merge of ``--config`` with the command line."""

from __future__ import annotations

import click
from click.core import ParameterSource

from attention import DEFAULT_SENTENCE, MATH_OPTIONS, AttentionConfig, compute_config
from attention.config_file import load_config
from qkv.options import Option, RenderOptions, for_command

MATH_NAMES = frozenset(o.name for o in MATH_OPTIONS)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a render, after its temporary files were removed."""


def sentence_argument(f):
    return click.argument("sentence", required=False, default=DEFAULT_SENTENCE)(f)


def _click_option(o):
    """A click option for a math option: ``--name/--no-name`` for a yes/no option, else
    ``--name VALUE``."""
    show = o.default is not None
    if o.kind is bool:
        shown = (f"--{o.name}" if o.default else f"--no-{o.name}") if o.default is not None \
            else "the model's own"  # (--causal: off, but always on for --model smollm2)
        return click.option(f"--{o.name}/--no-{o.name}", default=o.default, help=o.help,
                            show_default=shown)
    kind = click.Choice(o.choices) if o.choices else o.kind
    return click.option(f"--{o.name}", type=kind, default=o.default, metavar=o.metavar,
                        help=o.help, show_default=show)


def math_options(f):
    """The math options shared by every command that computes a trace, one per field of
    AttentionConfig (attention.core.MATH_OPTIONS)."""
    for o in reversed(MATH_OPTIONS):
        f = _click_option(o)(f)
    return f


class Parsed(click.ParamType):
    """A flag's value read by its option's own parser (the one that reads a batch cell);
    the value itself is judged where the options are made (qkv.options), so a bad one is
    the same ``error:`` line from a flag, a batch cell or Python."""

    def __init__(self, option: Option):
        self.option = option
        self.name = option.kind.__name__

    def convert(self, value, param, ctx):
        return self.option.parse(value, self.option.flag) if isinstance(value, str) else value


def render_option(o: Option):
    """A click option for a render option (a field of RenderOptions, or of a batch Job): a
    flag for a yes/no option, else ``--name VALUE``; the parameter is the field's name."""
    if o.kind is bool:
        return click.option(o.flag, o.field, is_flag=True, default=o.default, help=o.help)
    metavar = o.metavar or (f"[{'|'.join(o.choices)}]" if o.choices else None)
    return click.option(o.flag, o.field, type=Parsed(o), default=o.default, metavar=metavar,
                        help=o.help, show_default=o.shown_default or True)


def render_options(command: str, *classes):
    """The render options ``command`` takes (those whose field lists it in ``commands``),
    from RenderOptions and then ``classes`` (batch's Job)."""
    def decorate(f):
        for o in reversed(for_command(command, *classes)):
            f = render_option(o)(f)
        return f
    return decorate


def split(values: dict) -> tuple[dict, dict]:
    """A command's option values as (math options, the rest)."""
    return ({k: v for k, v in values.items() if k in MATH_NAMES},
            {k: v for k, v in values.items() if k not in MATH_NAMES})


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


def resolve_for_video(sentence, math: dict, config_path, options: RenderOptions):
    """resolve() (the theme of --config too), then refuse what would fail only after minutes
    of rendering: a word no installed font can draw, an --out that cannot be written in.
    Returns (trace, options)."""
    from dataclasses import replace

    from qkv.fonts import check_drawable
    from qkv.output import check_out

    trace, theme = resolve(sentence, math, config_path, options.theme)
    check_drawable(trace)
    check_out(options.out)
    return trace, replace(options, theme=theme)


def progress(console, *columns):
    """One transient progress bar on stderr (a terminal only: the callers check)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), *columns, console=console,
                    transient=True)
