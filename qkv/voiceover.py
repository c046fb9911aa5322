"""``PiperService``: qkv's narrator for your own Manim scenes, through manim-voiceover.

    from manim_voiceover import VoiceoverScene
    from qkv.voiceover import PiperService

    class MyScene(VoiceoverScene):
        def construct(self):
            self.set_speech_service(PiperService())
            with self.voiceover("A circle. <bookmark mark='A'/>Now a square."):
                ...
                self.wait_until_bookmark("A")

The voice is qkv's (Piper's ``en_US-joe-medium``, noise off: the same text gives the same
bytes) and so is its cache (``<user cache>/qkv/speech``, shared with qkv's own narration).
Bookmarks need each word's time in the speech: Piper gives how many samples each phoneme
lasts, and those phonemes are matched back to the words of the text, so no speech recogniser
is needed and nothing is downloaded.

Piper is GPL-3.0 and this module (MIT) never imports it: Piper runs in its own process,
``qkv/piper_align.py`` (the one GPL-3.0-or-later file), spoken to in JSON lines. Needs the
``voiceover`` extra: ``pip install 'qkv[voiceover]'`` (manim-voiceover, onnx).
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
import wave
from pathlib import Path

from attention import QKVError
from qkv.options import OPTION
from qkv.voice import PACE, RATE, VOICE, Narrator, end, sayable, wav_is_whole

try:
    from manim_voiceover.helper import remove_bookmarks
    from manim_voiceover.services.base import SpeechService
    from manim_voiceover.tracker import AUDIO_OFFSET_RESOLUTION
except ImportError:  # told in one line
    raise QKVError("qkv.voiceover needs manim-voiceover: pip install 'qkv[voiceover]'") from None

ALIGNER = Path(__file__).with_name("piper_align.py")  # GPL-3.0-or-later: run, never imported
STRESS = str.maketrans("", "", "ˈˌ")


class PiperService(SpeechService):
    """A manim-voiceover speech service that speaks with qkv's Piper voice, offline, and
    gives manim-voiceover each word's start from Piper's own phoneme alignments, so
    ``<bookmark mark='A'/>`` and ``wait_until_bookmark`` work without a recogniser.

    ``speed``: 0.8 to 1.25, as ``qkv render --voice-speed`` (Piper speaks faster or slower;
    manim-voiceover's ``global_speed``, which needs SoX, is not used). ``cache``: where the
    speech is kept, by default qkv's speech cache."""

    def __init__(self, speed: float = 1.0, cache: Path | str | None = None, **kwargs):
        if kwargs.get("global_speed", 1) != 1:
            raise QKVError("PiperService speaks faster or slower with speed=0.8 ... 1.25, "
                           "not global_speed")
        kwargs.pop("global_speed", None)
        low, high = OPTION["voice_speed"].between  # --voice-speed's range
        if not low <= speed <= high:
            raise QKVError(f"PiperService's speed must be between {low:g} and {high:g} "
                           f"(got {speed:g})")
        try:  # the voice's files: a missing one is one error line
            self._narrator = Narrator(speed, None if cache is None else Path(cache))
        except QKVError as error:
            _stop(str(error).removesuffix(", or pass --silent"))
        self.speed = self._narrator.speed
        self._piper: subprocess.Popen | None = None
        super().__init__(**kwargs)

    @property
    def speech_cache(self) -> Path:
        return self._narrator.cache

    # manim-voiceover calls this with the text of one `with self.voiceover(text)` block.
    def generate_from_text(self, text: str, cache_dir=None, path=None, **kwargs) -> dict:
        text = " ".join(text.split())
        said = remove_bookmarks(text)
        if not sayable(said):  # Piper fails on a line with no word in it
            raise QKVError(f"a voiceover needs words to say, not {text[:60]!r}")
        wav, sentences = self.speech(said)
        boundaries = word_boundaries(said, sentences, self._phonemes)
        return {"input_text": text,
                "input_data": {"input_text": said, "service": "qkv-piper",
                               "config": {"voice": VOICE, "speed": self.speed}},
                "original_audio": str(wav),  # absolute: manim-voiceover joins it to its folder
                "word_boundaries": boundaries}

    def speech(self, text: str) -> tuple[Path, list]:
        """The cached WAV of ``text`` spoken and its phoneme alignments (each sentence's
        phonemes with the samples each lasts), synthesised now if need be; a damaged cache
        entry is made again once, with one warning line."""
        wav = self.speech_cache / f"{self._narrator.key(text)}.wav"
        align = wav.with_suffix(".align.json")
        if wav.exists() and align.exists():
            sentences = _read_alignment(wav, align)
            if sentences is not None:
                return wav, sentences
            print(f"warning: the speech cache held a damaged file for {text[:40]!r} ({wav}); "
                  "it is made again", file=sys.stderr)
        self._start()
        written = Path(self._tmp.name) / wav.name  # beside the cache: renamed, never copied
        answer = self._ask({"say": text, "wav": str(written)})
        align_tmp = written.with_suffix(".align.json")
        align_tmp.write_text(json.dumps(answer["sentences"]), encoding="utf-8")
        if _read_alignment(written, align_tmp) is None:
            raise QKVError(f"the voice wrote a damaged file for {text[:40]!r}; is the disk "
                           f"full? ({self.speech_cache})")
        os.replace(align_tmp, align)  # each file whole, renamed into place
        os.replace(written, wav)
        return wav, answer["sentences"]

    def _phonemes(self, words: list[str]) -> list[list[str]]:
        return self._ask({"phonemize": words})["phonemes"]

    def _start(self) -> subprocess.Popen:
        if self._piper is not None and self._piper.poll() is None:
            return self._piper
        self.speech_cache.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix=".piper-", dir=self.speech_cache)
        length_scale = self.speed ** -PACE  # as qkv.voice.Narrator: speech lasts ~1 / speed
        # its log into a file, read if it fails: a pipe nobody reads would stop it when full
        self._log = open(Path(self._tmp.name) / "aligner.log", "w+", encoding="utf-8")  # noqa: SIM115
        self._piper = subprocess.Popen(
            [sys.executable, "-P", str(ALIGNER), str(self._narrator.model),
             f"{length_scale:.4f}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, encoding="utf-8", bufsize=1)
        self._read()  # {"ready": rate} once the voice is loaded
        return self._piper

    def _ask(self, request: dict) -> dict:
        piper = self._start()
        try:
            piper.stdin.write(json.dumps(request) + "\n")
            piper.stdin.flush()
        except (BrokenPipeError, OSError):
            self._failed()
        return self._read()

    def _read(self) -> dict:
        line = self._piper.stdout.readline()
        if not line:
            self._failed()
        answer = json.loads(line)
        if "error" in answer:
            self.close()
            raise QKVError(f"the voice failed: {answer['error']}")
        return answer

    def _failed(self):
        piper, self._piper = self._piper, None
        piper.kill()
        piper.wait()
        self._log.seek(0)
        said = [ln for ln in self._log.read().splitlines() if ln.strip()]
        raise QKVError("the voice stopped" + (f": {said[-1].strip()}" if said else ""))

    def close(self) -> None:
        if self._piper is not None:
            end(self._piper)
            self._piper = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if getattr(self, "_tmp", None) is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __del__(self):
        if hasattr(self, "_piper"):
            self.close()


def _stop(message: str):
    """A missing voice: one ``error:`` line. Under Manim's own command line (``manim
    scene.py``), which would print any exception with a long traceback, the line is printed
    and the render stops (exit 2); from Python it is a QKVError saying the same."""
    if Path(sys.argv[0]).name in ("manim", "manimce", "__main__.py") and "manim" in sys.argv[0]:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)
    raise QKVError(message)


def _read_alignment(wav: Path, align: Path) -> list | None:
    """A cache entry's alignments, if the entry is whole: the WAV as the voice writes it, and
    alignments whose samples add up to exactly its frames."""
    try:
        sentences = json.loads(align.read_text(encoding="utf-8"))
        with wave.open(str(wav), "rb") as w:
            frames = w.getnframes()
        total = sum(samples for sentence in sentences for _, samples in sentence)
    except (OSError, EOFError, ValueError, TypeError, wave.Error):
        return None
    return sentences if wav_is_whole(wav) and total == frames else None


def _sounds(phonemes) -> list[str]:
    """The phonemes that are sounds: without stress marks, pauses, punctuation and Piper's
    sentence start and end."""
    out = []
    for p in phonemes:
        p = p.translate(STRESS)
        if any(unicodedata.category(c)[0] in "LM" for c in p):
            out.append(p)
    return out


def word_boundaries(text: str, sentences: list, phonemize) -> list[dict]:
    """manim-voiceover's word boundaries for ``text`` (bookmarks removed) from Piper's
    alignments: each word's start, in 100 ns ticks from the start of the WAV, at its offset
    in ``text``; and one at the end of the text, when the voice stops.

    The words are matched to what Piper said by their phonemes: each word phonemized alone,
    all of them aligned with the spoken phonemes (difflib), so words Piper joins ("on the":
    "ɔnðə") or splits ("2024": four words) still get the time of their own first sound."""
    heard, starts, at = [], [], 0  # spoken sounds, the sample each starts at
    for sentence in sentences:
        for phoneme, samples in sentence:
            if _sounds([phoneme]):
                heard.append(_sounds([phoneme])[0])
                starts.append(at)
            at += samples
    end = at - (sentences[-1][-1][1] if sentences and sentences[-1] else 0)  # before "$"

    words, offset = [], 0
    for token in text.split(" "):
        if any(c.isalnum() for c in token):
            words.append((offset, token))
        offset += len(token) + 1
    wanted, first = [], []  # each word's sounds, one list; where each word's begin
    for sounds in phonemize([token for _, token in words]) if words else []:
        first.append(len(wanted) if _sounds(sounds) else None)
        wanted += _sounds(sounds)

    at_heard = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wanted, heard,
                                                       autojunk=False).get_opcodes():
        for i in range(i1, i2):
            at_heard[i] = j1 + (i - i1) * (j2 - j1) // (i2 - i1) if tag != "delete" else j1
    boundaries = []
    for (offset, token), i in zip(words, first):
        if i is None:
            continue
        j = at_heard[i]
        sample = starts[j] if j < len(starts) else end
        boundaries.append({"audio_offset": ticks(sample), "text_offset": offset,
                           "word_length": len(token), "text": token, "boundary_type": "Word"})
    if boundaries:
        boundaries.append({"audio_offset": ticks(end), "text_offset": len(text),
                           "word_length": 0, "text": "", "boundary_type": "End"})
    return boundaries


def ticks(sample: int) -> int:
    """A sample's time in manim-voiceover's units (Azure's, 100 ns)."""
    return round(sample * AUDIO_OFFSET_RESOLUTION / RATE)
