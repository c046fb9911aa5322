"""The explainer as a slide deck, built on manim-slides: one stop per narrated step, with the
narration as speaker notes. ``qkv slides`` converts it to a reveal.js page that needs no
network (reveal.js comes from the npm registry at set-up, into manim-slides' cache) or to a
PowerPoint file.

Narrated (unless ``--silent``), the scene is timed to the voice as ``qkv render``'s is, and
each slide's clip gets its slice of the same soundtrack (``qkv.soundtrack.narrate_clips``:
manim-slides' clips carry no sound). The page starts with a "click to start" veil: browsers
play sound only after a gesture, and that click starts the first stop with its voice.
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
from qkv.soundtrack import narrate_clips
from qkv.voice import narrator

DECK_FORMATS = ("html", "pptx", "pdf")  # pdf: a printed handout, a page per stop
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
    if to == ("pdf",):
        return render_handout(trace, options)
    if "pdf" in to:
        return [*render_deck(trace, options, [f for f in to if f != "pdf"], one_file),
                *render_handout(trace, options)]
    if "html" in to:
        check_reveal(options.theme)
    options = replace(options, scene="explainer", fmt="mp4", transparent=False, sections=False)
    options.check_voice()
    level = "INFO" if options.verbose else "ERROR"
    manim.logger.setLevel(level)
    logging.getLogger("manim-slides").setLevel(level)
    with staging(trace, options.out) as stage:
        tmp, folder = stage.work, stage.folder
        with drawn_kept(tmp), manim.tempconfig(manim_settings(options, tmp)):
            voice = narrator(options.voice_speed).seconds if options.narrated else None
            scene = ExplainerDeck(trace=trace, theme=options.theme, voice=voice,
                                  output_folder=tmp / "slides", renderer=QkvRenderer())
            scene.render()
        deck = PresentationConfig.from_file(tmp / "slides" / f"{type(scene).__name__}.json")
        cues = scene.renderer.file_writer.subcaptions
        if options.narrated:  # each slide's clip with the speech of the captions inside it
            clips = narrate_clips([s.file for s in deck.slides], cues,
                                  narrator(options.voice_speed), tmp / "narrated")
            deck = deck.model_copy(update={"slides": [
                s.model_copy(update={"file": c, "rev_file": c})
                for s, c in zip(deck.slides, clips, strict=True)]})
        script = tmp / f"{DECK_NAME}.txt"  # the narration, a line per stop: a speaker's script
        script.write_text(to_txt(cues), encoding="utf-8")
        pairs = [(script, folder / script.name)]
        # manim-slides' converters draw progress bars of their own: quiet unless --verbose
        with nullcontext() if options.verbose else redirect_stderr(io.StringIO()):
            if "pptx" in to:
                dest = tmp / f"{DECK_NAME}.pptx"
                PowerPoint(presentation_configs=[deck]).convert_to(dest)
                pairs.append((dest, folder / dest.name))
            if "html" in to:
                dest = tmp / f"{DECK_NAME}.html"
                write_html(deck, trace, options.theme, dest, one_file, options.narrated)
                if not one_file:  # the videos before the page that plays them
                    pairs.append((tmp / f"{DECK_NAME}_assets", folder / f"{DECK_NAME}_assets"))
                pairs.append((dest, folder / dest.name))
        stage.pairs = pairs
    return stage.written


def render_handout(trace: AttentionTrace, options: RenderOptions) -> list[Path]:
    """The deck as a printed handout, ``explainer-deck.pdf``: a page per stop, the picture as
    the stop ends (vectors, as ``--format pdf``) over its notes. The explainer is played
    through without drawing a frame (as for a still), timed as the deck is."""
    import manim

    from engine.figures import Handout
    from engine.renderer import QkvRenderer
    from scenes.deck import ExplainerHandout

    options = replace(options, scene="explainer", fmt="png", transparent=False, sections=False)
    manim.logger.setLevel("INFO" if options.verbose else "ERROR")
    with staging(trace, options.out) as stage:
        tmp, folder = stage.work, stage.folder
        dest = tmp / f"{DECK_NAME}.pdf"
        with drawn_kept(tmp), manim.tempconfig(manim_settings(options, tmp)):
            scene = ExplainerHandout(trace=trace, theme=options.theme, renderer=QkvRenderer())
            handout = Handout(dest, scene.renderer.camera)
            width = scene.renderer.camera.frame_width
            stops = []

            def page(notes: str) -> None:
                stops.append(notes)
                text = scene.notes_mobject(notes, width)
                room = Handout.NOTES_HEIGHT / handout.unit
                if text.height > room:  # a long caption: smaller, never cut
                    text.scale(room / text.height)
                footer = scene.notes_mobject(
                    f"{len(stops)} · Self-attention: {trace.sentence}", width)
                footer.set_color("#777777").scale(0.7)
                handout.add_stop(scene, text, footer)

            scene.on_stop = page
            scene.render()
            scene.end_stop()  # the last stop
            handout.close()
        stage.pairs = [(dest, folder / dest.name)]
    return stage.written


def write_html(deck, trace: AttentionTrace, theme: str, dest: Path, one_file: bool,
               narrated: bool = False) -> None:
    """A reveal.js page with no network use. The user's words reach the page only as escaped
    text: notes are HTML-escaped and not read as Markdown. Narrated, the page opens behind a
    "click to start" veil (see START)."""
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
    page = page.replace(markdown_notes, '<aside class="notes">')
    if narrated:
        at = page.rindex("</body>")
        page = page[:at] + START + page[at:]
    dest.write_text(page, encoding="utf-8")


# The narrated page's start. Browsers play sound only after a gesture on the page, so the first
# stop (muted by manim-slides, and playing muted behind the veil) waits for a click or a key:
# that gesture unmutes it and plays it from its start with its voice; every later stop plays
# its sound as it is reached (reveal.js starts each background video). reveal.js's speaker view
# shows the deck in frames whose address holds "receiver": reveal.js mutes every video there,
# and the veil is not shown, so the notes window never speaks.
START = """<div id="qkv-start" role="button" tabindex="0"
     aria-label="Click or press any key to start the narrated deck">
  <div class="qkv-start-card"><span class="qkv-start-icon" aria-hidden="true">&#9654;</span>
    <span class="qkv-start-text"><b>Click to start</b>
    <small>the narration plays at every stop &middot; sound on</small></span></div>
</div>
<style>
#qkv-start { position: fixed; inset: 0; z-index: 100; cursor: pointer;
  display: flex; align-items: flex-end; justify-content: center; padding-bottom: 9vh;
  background: linear-gradient(to top, rgba(0, 0, 0, .2), rgba(0, 0, 0, 0) 35%); }
#qkv-start .qkv-start-card { display: flex; align-items: center; gap: .8em;
  padding: .65em 1.4em .65em 1em; border-radius: 999px; color: #fff;
  background: #1a5fd0; border: 2px solid rgba(255, 255, 255, .9);
  box-shadow: 0 4px 18px rgba(0, 0, 0, .35);
  font: 500 clamp(16px, 2.6vmin, 30px)/1.25 system-ui, -apple-system, "Segoe UI", sans-serif; }
#qkv-start .qkv-start-icon { font-size: 1.6em; line-height: 1; }
#qkv-start .qkv-start-text { display: flex; flex-direction: column; text-align: left; }
#qkv-start small { font-size: .7em; opacity: .9; }
#qkv-start:hover .qkv-start-card { background: #174fae; }
</style>
<script>
(function () {
  var veil = document.getElementById("qkv-start");
  if (/receiver/i.test(window.location.search) || Reveal.isSpeakerNotes()) {
    veil.remove();  // the speaker view: its slides stay silent
    return;
  }
  function start(event) {
    event.preventDefault();
    event.stopImmediatePropagation();  // the key that starts does not also turn the page
    window.removeEventListener("keydown", start, true);
    veil.remove();
    document.querySelectorAll(".reveal .slides section[data-background-video-muted]")
      .forEach(function (s) { s.removeAttribute("data-background-video-muted"); });
    var slide = Reveal.getCurrentSlide();
    var back = slide && slide.slideBackgroundContentElement;
    var video = back && back.querySelector("video");
    if (video) {
      video.muted = false;
      video.removeAttribute("data-muted-by-reveal");
      video.currentTime = 0;
      video.play();
    }
    document.querySelectorAll(".reveal .r-media-play-button")
      .forEach(function (b) { b.remove(); });
  }
  veil.addEventListener("click", start);
  window.addEventListener("keydown", start, true);
  veil.focus();
})();
</script>
"""
