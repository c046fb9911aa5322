"""``qkv cache``: where qkv keeps what it made once (speech, formulas and texts drawn, the
GPT's unpacked weights), how big each is, and ``--clear`` to empty them."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from attention.smollm2 import cache_dir as weights_cache
from engine.cache import drawn_cache
from qkv.voice import cache_folder as speech_cache


def caches() -> dict[str, Path]:
    """qkv's own cache folders, by what they hold (nothing else is ever cleared)."""
    return {"speech": speech_cache(), "drawn formulas and texts": drawn_cache(),
            "smollm2 weights": weights_cache()}


def size_of(folder: Path) -> tuple[int, int]:
    """(files, bytes) under ``folder`` (0, 0 if it does not exist)."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@click.command("cache")
@click.option("--clear", is_flag=True, help="Empty qkv's cache folders (they fill again as "
              "needed: the next render makes its speech and texts anew).")
def cache(clear):
    """Show where qkv's caches are and their size; --clear empties them."""
    for what, folder in caches().items():
        if clear and folder.is_dir():
            shutil.rmtree(folder)
        files, size = size_of(folder)
        click.echo(f"{what:<25} {human(size):>9}  {files:>5} files  {folder}")
