"""``qkv batch FILE``: many sentences at once (the work itself: :mod:`qkv.batch`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from attention import MATH_OPTIONS
from qkv.batch import Job
from qkv.commands.common import Interrupted, math_options, progress, render_options, split
from qkv.options import BATCH, RenderOptions


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="the number of cores", help="Rows at once, in local processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the rows on a Dask cluster: tcp://HOST:PORT, HOST:PORT or a scheduler "
                   "file, e.g. tcp://127.0.0.1:8786 (needs qkv[cluster]); the files are still "
                   "written here, into --out.")
@click.option("--strict", is_flag=True, help="Refuse the whole file if any row is bad.")
@click.option("--force", is_flag=True, help="Make every row again, even those already done.")
@render_options(BATCH, Job)
@math_options
def batch(file, jobs, scheduler, strict, force, make, **values):
    """Many sentences at once, from a .csv (a 'sentence' column and any option as a column),
    .txt (a sentence a line) or .jsonl FILE. A row's cells override the command line. Rows
    already done are skipped; batch-report.csv and .json in --out say what happened."""
    from qkv.batch import scheduler_address
    from qkv.output import check_out

    math, values = split(values)
    options = RenderOptions(**values)  # a bad value: one error line before any row is read
    if scheduler is not None:
        scheduler = scheduler_address(scheduler)
    check_out(options.out)
    given = {k: v for k, v in math.items()
             if v != next(o.default for o in MATH_OPTIONS if o.name == k)}
    defaults = Job(line=0, sentence="", math=given, options=options, make=make)
    try:
        results, report = batch_with_progress(file, defaults, options.out, jobs, scheduler,
                                              force, strict, options.verbose)
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
    from rich.progress import TimeRemainingColumn

    from qkv.batch import plan, run_batch

    console = Console(stderr=True)
    kwargs = dict(jobs=jobs, scheduler=scheduler, force=force, strict=strict, verbose=verbose)
    if not console.is_terminal:
        return run_batch(file, defaults, out, **kwargs)
    checked = plan(file, defaults, out, force, strict)  # (once: run_batch takes it)
    with progress(console, TimeRemainingColumn()) as bar:
        task = bar.add_task("rows", total=len(checked.todo))
        return run_batch(file, defaults, out, **kwargs, batch=checked,
                         on_row=lambda _: bar.advance(task))
