"""The narration's soundtrack: each caption's speech laid at the moment its cue starts, as
long as the video to the sample, then muxed into the video (video packets copied, audio
encoded: AAC in mp4 and mov, Opus in webm). The cues are the ``.srt`` Manim wrote from the
scene's subcaptions, so the captions and the voice follow one timeline by construction.
Section clips get their slice of the same track; parts joined with ``--jobs`` share one
timeline, so their soundtrack is the one a single process lays.
"""

from __future__ import annotations

import heapq
from fractions import Fraction
from pathlib import Path

import numpy as np

from qkv.captions import cut, video_seconds
from qkv.voice import RATE, Narrator

SOUND_FORMATS = ("mp4", "webm", "mov")  # containers that carry narration (not gif, png)
GAIN = 0.89  # Piper peaks each line at full scale: -1 dB leaves the lossy encoder headroom


def lay(cues, seconds: float, narrator: Narrator) -> np.ndarray:
    """[samples] int16: each cue's speech from its start, silence between; ``seconds`` long."""
    track = np.zeros(round(seconds * RATE), dtype=np.int16)
    for cue in cues:
        speech = (narrator.samples(cue.content) * GAIN).astype(np.int16)
        at = round(cue.start.total_seconds() * RATE)
        piece = speech[: max(0, len(track) - at)]
        track[at: at + len(piece)] = piece
    return track


def mux(video: Path, track: np.ndarray, dest: Path) -> None:
    """``video``'s picture (packets copied) with ``track`` as its sound, into ``dest``."""
    import av

    opus = dest.suffix == ".webm"
    rate = 48000 if opus else RATE  # Opus encodes at 48 kHz only
    with av.open(str(video)) as src, av.open(str(dest), mode="w") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        if vin.metadata.get("alpha_mode") == "1":  # a transparent webm stays one (as Manim
            vout.pix_fmt = "yuva420p"  # writes it: the muxer then marks the track's alpha)
        aout = out.add_stream("libopus" if opus else "aac", rate=rate, layout="mono")
        resampler = av.AudioResampler(format=aout.codec_context.format, layout="mono",
                                      rate=rate)
        fifo = av.AudioFifo()
        frame = av.AudioFrame.from_ndarray(track[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        for f in resampler.resample(frame) + resampler.resample(None):
            fifo.write(f)
        size = aout.codec_context.frame_size or 1024
        audio = []
        while fifo.samples:
            audio += aout.encode(fifo.read(min(size, fifo.samples)))
        audio += aout.encode(None)

        def timed(packets, stream):
            for p in packets:
                if p.dts is None:
                    continue
                yield float(p.dts * p.time_base), id(p), p, stream

        picture = timed(src.demux(vin), vout)
        for _, _, packet, stream in heapq.merge(picture, timed(audio, aout)):
            packet.stream = stream
            out.mux(packet)


def with_narration(pairs: list[tuple[Path, Path]], work: Path, name: str,
                   narrator: Narrator) -> list[tuple[Path, Path]]:
    """``pairs`` (file written, final path) of one render, with each video (the whole and
    every section clip) replaced by a copy that carries its narration."""
    import srt

    srt_pair = next(((s, d) for s, d in pairs if d.name == f"{name}.srt"), None)
    whole = next((s for s, d in pairs if d.stem == name and d.suffix[1:] in SOUND_FORMATS),
                 None)
    if srt_pair is None or whole is None:
        return pairs
    cues = list(srt.parse(srt_pair[0].read_text(encoding="utf-8")))
    track = lay(cues, video_seconds(whole), narrator)
    out, offset = [], 0
    for src, dst in pairs:
        if dst.suffix[1:] in SOUND_FORMATS:
            if dst.stem == name:
                part = track
            else:  # a section clip: the clips follow each other from the start
                n = round(video_seconds(src) * RATE)
                part, offset = track[offset: offset + n], offset + n
                part = np.pad(part, (0, n - len(part)))
            narrated = work / f"narrated-{dst.name}"
            mux(src, part, narrated)
            src = narrated
        out.append((src, dst))
    return out


def narrate_clips(clips: list[Path], cues, narrator: Narrator, folder: Path) -> list[Path]:
    """Clips that follow each other from the start of a narrated scene (a deck's slides, each
    from one stop to the next), each copied into ``folder`` under its own name with its slice
    of the soundtrack: the speech of the cues that begin inside it, laid from its own start.
    Returns the copies, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    out, offset = [], 0.0
    for clip in clips:
        seconds = video_seconds(clip)
        dest = folder / clip.name
        if dest in out:
            raise ValueError(f"two clips named {clip.name}")
        mux(clip, lay(cut(cues, offset, seconds), seconds, narrator), dest)
        out.append(dest)
        offset += seconds
    return out
