"""The explainer as a slide deck, built on manim-slides: one stop per narrated step, with the
narration as speaker notes. ``qkv slides`` converts it to a reveal.js page that needs no
network (reveal.js comes from the npm registry at set-up, into manim-slides' cache) or to a
PowerPoint file.
"""

from __future__ import annotations

import html
import io
import logging
from contextlib import nullcontext, redirect_stderr
from dataclasses import replace
from pathlib import Path

from attention import AttentionTrace, QKVError
from qkv.captions import to_txt
from qkv.output import staging
from qkv.render import RenderOptions, drawn_kept, manim_settings

DECK_FORMATS = ("html", "pptx")
DECK_NAME = "explainer-deck"
# What manim-slides' reveal.js template links to, by file name (its offline cache is flat).
REVEAL_ASSETS = ("reveal.css", "zenburn.css", "reveal.js", "notes.js", "markdown.js")
REVEAL_THEME = {"dark": "black", "light": "white"}


def reveal_cache() -> Path:
    """The folder manim-slides reads reveal.js from when converting with ``offline``."""
    from manim_slides.convert import RevealJS
    from platformdirs import user_cache_path

    version = RevealJS.model_fields["reveal_version"].default
    return user_cache_path("manim-slides") / f"revealjs{version}"


def check_reveal(theme: str) -> None:
    """Refuse before rendering if reveal.js is not where manim-slides looks (it would try to
    download it, and this must work with no network)."""
    folder = reveal_cache()
    missing = [a for a in (*REVEAL_ASSETS, f"{REVEAL_THEME[theme]}.css")
               if not (folder / a).is_file()]
    if missing:
        raise QKVError(f"reveal.js is missing from {folder} ({', '.join(missing)}); run "
                       "./render.sh once to fetch it from the npm registry")


def render_deck(trace: AttentionTrace, options: RenderOptions, to=("html",),
                one_file: bool = False) -> list[Path]:
    """Render the deck once and convert it to each format in ``to``; return the final paths:
    the narration as a script (.txt, a line per stop), then each format (for html, the folder
    of videos beside the page unless ``one_file``, then the page)."""
    import manim
    from manim_slides.config import PresentationConfig
    from manim_slides.convert import PowerPoint

    from engine.renderer import QkvRenderer
    from scenes.deck import ExplainerDeck

    to = (to,) if isinstance(to, str) else tuple(to)
    for fmt in to:
        if fmt not in DECK_FORMATS:
            raise QKVError(f"--to must be one of {', '.join(DECK_FORMATS)}")
    if "html" in to:
        check_reveal(options.theme)
    options = replace(options, scene="explainer", fmt="mp4", transparent=False, sections=False)
    level = "INFO" if options.verbose else "ERROR"
    manim.logger.setLevel(level)
    logging.getLogger("manim-slides").setLevel(level)
    with staging(trace, options.out) as stage:
        tmp, folder = stage.work, stage.folder
        with drawn_kept(tmp), manim.tempconfig(manim_settings(options, tmp)):
            scene = ExplainerDeck(trace=trace, theme=options.theme, output_folder=tmp / "slides",
                                  renderer=QkvRenderer())
            scene.render()
        deck = PresentationConfig.from_file(tmp / "slides" / f"{type(scene).__name__}.json")
        script = tmp / f"{DECK_NAME}.txt"  # the narration, a line per stop: a speaker's script
        script.write_text(to_txt(scene.renderer.file_writer.subcaptions), encoding="utf-8")
        pairs = [(script, folder / script.name)]
        # manim-slides' converters draw progress bars of their own: quiet unless --verbose
        with nullcontext() if options.verbose else redirect_stderr(io.StringIO()):
            if "pptx" in to:
                dest = tmp / f"{DECK_NAME}.pptx"
                PowerPoint(presentation_configs=[deck]).convert_to(dest)
                pairs.append((dest, folder / dest.name))
            if "html" in to:
                dest = tmp / f"{DECK_NAME}.html"
                write_html(deck, trace, options.theme, dest, one_file)
                if not one_file:  # the videos before the page that plays them
                    pairs.append((tmp / f"{DECK_NAME}_assets", folder / f"{DECK_NAME}_assets"))
                pairs.append((dest, folder / dest.name))
        stage.pairs = pairs
    return stage.written


def write_html(deck, trace: AttentionTrace, theme: str, dest: Path, one_file: bool) -> None:
    """A reveal.js page with no network use. The user's words reach the page only as escaped
    text: notes are HTML-escaped and not read as Markdown."""
    from manim_slides.convert import RevealJS

    deck = deck.model_copy(deep=True)
    for slide in deck.slides:
        slide.notes = html.escape(slide.notes)
    RevealJS(presentation_configs=[deck], offline=True, one_file=one_file,
             reveal_theme=REVEAL_THEME[theme],
             title=html.escape(f"Self-attention: {trace.sentence}")).convert_to(dest)
    page = dest.read_text(encoding="utf-8")
    markdown_notes = '<aside class="notes" data-markdown="">'
    if markdown_notes not in page:
        markdown_notes = '<aside class="notes" data-markdown>'
    dest.write_text(page.replace(markdown_notes, '<aside class="notes">'), encoding="utf-8")

