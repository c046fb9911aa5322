# SPDX-License-Identifier: GPL-3.0-or-later
"""Piper with its phoneme alignments, in a process of its own (``qkv.voiceover`` runs it).

This one file imports Piper (``piper-tts``, GPL-3.0) and is licensed GPL-3.0-or-later, unlike
the rest of qkv (MIT). qkv never imports it: ``qkv.voiceover`` runs it as its own process and
talks to it in JSON lines, one request a line on stdin, one answer a line on stdout:

* ``{"say": TEXT, "wav": PATH}``: writes TEXT spoken to the WAV file PATH (as ``python -m
  piper`` would, same settings) and answers ``{"sentences": [[[PHONEME, SAMPLES], ...], ...]}``:
  for each sentence Piper spoke, its phonemes in order and the samples each one lasts (with
  the pause after it), the sentences' samples one after the other in the file.
* ``{"phonemize": [WORD, ...]}``: answers ``{"phonemes": [[PHONEME, ...], ...]}``, what Piper
  says for each word alone.

A request it cannot serve is answered ``{"error": MESSAGE}``. It starts by answering
``{"ready": SAMPLE_RATE}`` once the voice is loaded.

    python -P qkv/piper_align.py MODEL.onnx LENGTH_SCALE
"""

import json
import logging
import sys
import wave

from piper import PiperVoice, SynthesisConfig


def answer(reply: dict) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def say(voice: PiperVoice, config: SynthesisConfig, text: str, path: str) -> dict:
    sentences = []
    with wave.open(path, "wb") as wav:
        wav.setframerate(voice.config.sample_rate)
        wav.setsampwidth(2)
        wav.setnchannels(1)
        for chunk in voice.synthesize(text, config, include_alignments=True):
            if chunk.phoneme_alignments is None:
                return {"error": f"Piper gave no phoneme alignments for {text[:60]!r}"}
            wav.writeframes(chunk.audio_int16_bytes)
            sentences.append([[a.phoneme, int(a.num_samples)] for a in chunk.phoneme_alignments])
    return {"sentences": sentences}


def main(model: str, length_scale: str) -> None:
    logging.disable(logging.WARNING)  # Piper's own warnings: a missing onnx is told below
    voice = PiperVoice.load(model, include_alignments=True)
    if len(voice.session.get_outputs()) < 2:
        answer({"error": "Piper cannot give phoneme alignments without the onnx package; "
                         "install qkv[voiceover]"})
        return
    config = SynthesisConfig(length_scale=float(length_scale), noise_scale=0.0,
                             noise_w_scale=0.0)
    answer({"ready": voice.config.sample_rate})
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if "say" in request:
                answer(say(voice, config, request["say"], request["wav"]))
            else:
                answer({"phonemes": [[p for sentence in voice.phonemize(word) for p in sentence]
                                     for word in request["phonemize"]]})
        except Exception as error:  # noqa: BLE001 - told to the caller, which decides
            answer({"error": f"{type(error).__name__}: {error}"})


if __name__ == "__main__":
    main(*sys.argv[1:])
