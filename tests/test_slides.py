"""Decks: built once per sentence as HTML and PPTX. The HTML deck plays from file:// in headless
Chromium with the network off (every resource it loads is a local file), the first slide's
video plays, the right arrow moves on; the PPTX has a slide with notes per step; the notes are
the narration, and a sentence with markup stays text."""

import html
import re
import time
from pathlib import Path

import numpy as np
import pptx
import pytest
from PIL import Image

from attention import compute
from qkv.output import output_folder
from qkv.render import RenderOptions
from qkv.slides import DECK_NAME, render_deck

SENTENCES = ["The cat sat on the mat", "Cats & dogs <b>nap</b>"]
# One worker builds both decks (once each: the fixture lives for the session, so tests of other
# modules run between these do not make it build them again) and runs every test that uses them.
pytestmark = pytest.mark.xdist_group("decks")


def narration(paths) -> list[str]:
    """The deck's script: the captions its scene wrote, one line each."""
    return paths[0].read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def decks(tmp_path_factory):
    """Each sentence's deck, built once (as HTML and PPTX) however the tests are ordered."""
    built = {}

    def deck(sentence: str):
        if sentence not in built:
            trace = compute(sentence)
            built[sentence] = trace, render_deck(
                trace, RenderOptions(quality="low", fps=2, out=tmp_path_factory.mktemp("deck")),
                to=("html", "pptx"))
        return built[sentence]
    return deck


@pytest.fixture(params=SENTENCES, ids=["default", "markup"])
def deck(request, decks):
    return decks(request.param)


def test_deck_files_and_notes_are_the_narration(deck):
    trace, paths = deck
    folder = output_folder(trace, paths[0].parent.parent)
    assert [p.name for p in paths] == [f"{DECK_NAME}.txt", f"{DECK_NAME}.pptx",
                                      f"{DECK_NAME}_assets", f"{DECK_NAME}.html"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)
    page = paths[3].read_text(encoding="utf-8")
    notes = [html.unescape(n).strip() for n in
             re.findall(r'<aside class="notes">(.*?)</aside>', page, re.S)]
    steps = narration(paths)  # the captions the same scene wrote, a stop per caption
    assert notes == steps and len(steps) >= 30
    assert f"Our sentence: {trace.sentence}" in steps
    assert "data-markdown" not in page  # notes are text, never Markdown or HTML
    assert "<b>nap" not in page  # no address to fetch from, only local files:
    assert "http" not in page.replace(
        "<!-- To include plugins, see: https://revealjs.com/plugins/ -->", "")
    videos = re.findall(r'data-background-video="([^"]+)"', page)
    assert len(videos) == len(steps)
    assert all((paths[3].parent / v).is_file() for v in videos)
    # PowerPoint: one slide per step, each with its video and the narration as notes
    prs = pptx.Presentation(str(paths[1]))
    slides = list(prs.slides)
    assert len(slides) == len(steps)
    assert [s.notes_slide.notes_text_frame.text for s in slides] == steps
    assert all(any(sh.shape_type == 16 for sh in s.shapes) for s in slides)  # 16: media


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--proxy-server=http://127.0.0.1:9",  # any network request would fail
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,800"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


STATE = """
const v = document.querySelector('.slide-background.present video');
return {slide: Reveal.getIndices().h, total: Reveal.getTotalSlides(),
        notes: Reveal.getSlideNotes(),
        video: v && {src: v.currentSrc, time: v.currentTime, paused: v.paused,
                     ready: v.readyState, error: v.error && v.error.code},
        loaded: performance.getEntriesByType('resource').map(e => e.name)
                .concat([location.href])};
"""


def wait_for(driver, check, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        state = driver.execute_script(STATE)
        if check(state) or time.time() > deadline:
            return state
        time.sleep(0.2)


def test_html_deck_plays_offline_in_chromium(deck, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    trace, paths = deck
    page: Path = paths[3]
    driver = chromium()
    try:
        driver.get(page.resolve().as_uri())
        first = wait_for(driver, lambda s: s["video"] and s["video"]["time"] > 0.5)
        assert first["slide"] == 0 and first["total"] == len(narration(paths))
        video = first["video"]
        assert video["error"] is None and video["ready"] >= 2 and not video["paused"]
        assert video["src"].startswith("file://") and video["src"].endswith(".mp4")
        assert all(url.startswith("file://") for url in first["loaded"]), first["loaded"]
        assert html.unescape(first["notes"]).strip() == narration(paths)[0]
        shot = tmp_path / "first.png"
        driver.save_screenshot(str(shot))
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
        assert pixels.std() > 5  # the slide's video is drawn, not a blank page

        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        second = wait_for(driver, lambda s: s["slide"] == 1 and s["video"]
                          and s["video"]["time"] > 0.2)
        assert second["slide"] == 1
        assert second["video"]["src"] != video["src"] and not second["video"]["paused"]
        assert html.unescape(second["notes"]).strip() == narration(paths)[1]
        if "<b>" in trace.sentence:  # markup in the sentence is shown, not obeyed
            assert not driver.find_elements(By.CSS_SELECTOR, "aside.notes b")
    finally:
        driver.quit()


def test_slides_refuses_in_one_line_before_rendering(tmp_path):
    """Bad input, or reveal.js missing from manim-slides' cache: one line, exit 2, no file."""
    import os
    import subprocess
    import sys

    qkv = [sys.executable, "-m", "qkv", "slides", "--out", str(tmp_path / "out")]
    cases = [([""], {}, "empty"), (["Hi", "--to", "key"], {}, "--to"),
             (["Hi"], {"XDG_CACHE_HOME": str(tmp_path / "cache")}, "./render.sh")]
    for args, env, fragment in cases:
        p = subprocess.run([*qkv, *args], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, **env}, timeout=120)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and fragment in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
        assert os.listdir(tmp_path) == []
