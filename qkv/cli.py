"""The ``qkv`` command: ``qkv export``, ``qkv render``, ``qkv slides``, ``qkv batch``,
``qkv scenes``, ``qkv cache``, and ``qkv --version``: one click group of the commands in
:mod:`qkv.commands` (a module each).

Every problem with the input ends in one line ``error: ...`` that says how to fix it, exit
status 2, and no file written.
"""

from __future__ import annotations

import os
import sys

import click

from attention import QKVError
from qkv import interrupt
from qkv.commands.batch import batch
from qkv.commands.cache import cache
from qkv.commands.common import Interrupted
from qkv.commands.export import export
from qkv.commands.render import render
from qkv.commands.scenes import list_scenes
from qkv.commands.serve import serve
from qkv.commands.slides import slides
from qkv.output import FULL, no_space


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qkv", message="%(prog)s %(version)s")
def cli():
    """Turn a sentence into videos that explain self-attention, with every number computed."""


for command in (export, render, slides, batch, list_scenes, cache, serve):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every expected failure into one line."""
    interrupt.install()  # SIGTERM cleans up like Ctrl-C: temporary files go, old files stay
    if os.environ.pop("QKV_DIE_WITH_PARENT", None):  # a job of qkv serve: ends with it
        interrupt.die_with_parent()
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
        if err.errno in FULL:  # captions, decks, reports, caches: anywhere
            _fail(str(no_space(err.filename or "the disk")), 2)
        _fail(f"{err.strerror or err}: {err.filename or ''}".rstrip(": "), 1)


def _fail(message: str, status: int) -> None:
    click.echo("error: " + " ".join(str(message).split()), err=True)
    sys.exit(status)
