"""The drawn cache: formulas (LaTeX -> SVG) and texts (Pango -> SVG, and qkv's parsed texts,
pickled by engine/text.py) kept between renders, and manimpango's SVG rewrite replaced by one
that writes only when it changes the file. Importing this loads no Manim."""

from __future__ import annotations

import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

# Manim's formulas (LaTeX -> SVG) and texts (Pango -> SVG; and qkv's texts parsed, pickled:
# engine/text.py)
DRAWN_KEPT = ("Tex", "texts")
DRAWN_FILES = ("*.svg", "*.pickle")


def drawn_cache() -> Path:
    """Where formulas and texts Manim has turned into SVG are kept between renders."""
    from platformdirs import user_cache_path

    return user_cache_path("qkv") / "manim"


def whole_file(path: Path) -> bool:
    """An SVG that ends as one does (never an empty file: Pango writes one for a text it
    cannot draw, before the render fails; nor one cut short), or a pickle that ends with its
    STOP."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 64))
            tail = f.read()
    except OSError:
        return False
    return b"</svg>" in tail if path.suffix == ".svg" else tail.endswith(b".")


def drawn_files(folder: Path):
    return (f for pattern in DRAWN_FILES for f in folder.glob(pattern)) if folder.is_dir() else ()


def linked(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src`` (one system call, no bytes copied: seeding a render
    from a cache of 2,600 files took 0.74 s by copy, 0.03 s by link), or a copy where the two
    are on different file systems. Safe because nothing writes into a drawn file that exists:
    Manim and Pango only make files that are missing, Manim's rewrite of a text's SVG happens
    once, when it is made (:func:`remove_last_M_in_place_only_if_it_changes`), and qkv
    replaces a text it must make again by renaming a new file over the old name
    (engine/text.py)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def names_in(folder: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(folder)}
    except OSError:
        return set()


# Names of drawn files found damaged in this process (a text's pickle that did not load:
# engine/text.py): kept again after the render, over the cache's damaged copy.
DAMAGED: set[str] = set()


def warn_damaged(what: str, paths: list[Path]) -> None:
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    print(f"warning: the drawn cache held a damaged {what} ({paths[0]}{more}); it is drawn "
          "again", file=sys.stderr)


def seed_drawn(work: Path, cache: Path) -> None:
    """Give a render's own media folder every formula and text drawn before: LaTeX and Pango
    then run only for new ones (~8 s saved for the explainer), and qkv's texts are not parsed
    again. A file not whole is never handed on (Manim would read it as it is): it is removed
    from the cache with one warning line, drawn again by this render and kept after it."""
    damaged = []
    try:
        for sub in DRAWN_KEPT:
            src, dst = cache / sub, work / sub
            dst.mkdir(parents=True, exist_ok=True)
            there = names_in(dst)
            for f in drawn_files(src):
                if f.name in there:
                    continue
                if whole_file(f):
                    linked(f, dst / f.name)
                else:
                    damaged.append(f)
        for f in damaged:
            f.unlink(missing_ok=True)
    except OSError:
        pass  # an unreadable cache only costs time
    if damaged:
        warn_damaged("file", damaged)


def keep_drawn(work: Path, cache: Path) -> None:
    """Put what a finished render drew that the cache lacks into it, each file whole or not
    at all (linked or copied beside, then renamed: renders at once never read half a
    file)."""
    try:
        for sub in DRAWN_KEPT:
            folder = cache / sub
            there = names_in(folder)
            for f in drawn_files(work / sub):
                if (f.name not in there or f.name in DAMAGED) and whole_file(f):
                    folder.mkdir(parents=True, exist_ok=True)
                    tmp = folder / f".{f.name}.{os.getpid()}.part"
                    tmp.unlink(missing_ok=True)
                    linked(f, tmp)
                    os.replace(tmp, folder / f.name)
    except OSError:
        pass  # a cache that cannot be written only costs time


def remove_last_M_in_place_only_if_it_changes(file_name: str) -> None:
    """manimpango's ``PangoUtils.remove_last_M`` (what Manim's Text and MarkupText run on
    their SVG every time one is made, also when the file was made long before), writing the
    file back only when its substitution changes something: the first time. Its rewrite
    truncates the file before writing it again, and with a render's folder linked to the
    cache that file is every render's (a suite run caught one reading it empty). The
    substitution changes nothing a second time; the file ends as manimpango leaves it."""
    with open(file_name) as f:
        content = f.read()
    done = re.sub(r'Z M [^A-Za-z]*? "\/>', 'Z "/>', content)
    if done != content:
        with open(file_name, "w") as f:
            f.write(done)


MANIMPANGOS_REMOVE_LAST_M = []  # manimpango's own, once replaced (for the tests)


def texts_rewritten_only_once() -> None:
    from manimpango import PangoUtils

    own = PangoUtils.__dict__["remove_last_M"].__func__
    if own is not remove_last_M_in_place_only_if_it_changes:
        MANIMPANGOS_REMOVE_LAST_M[:] = [own]
        PangoUtils.remove_last_M = staticmethod(remove_last_M_in_place_only_if_it_changes)


@contextmanager
def drawn_kept(work: Path):
    """Around a render into ``work``: the cache's formulas and texts before, its new ones
    kept after (only when the render finished)."""
    cache = drawn_cache()
    texts_rewritten_only_once()  # before any text is read from a linked file
    seed_drawn(work, cache)
    DAMAGED.clear()
    try:
        yield
    finally:
        if DAMAGED:  # texts' pickles that did not load (engine/text.py): one line for all
            warn_damaged("text", [cache / "texts" / name for name in sorted(DAMAGED)])
    keep_drawn(work, cache)
    DAMAGED.clear()
