"""Captions and a transcript beside every video: ``.srt`` (Manim writes it from the scenes'
subcaptions), ``.vtt`` (WebVTT, for web pages and HTML decks) and ``.txt`` (the narration,
one cue per line). Section clips get their own, cut from the whole by time.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import srt

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".gif")


def to_vtt(cues: list[srt.Subtitle]) -> str:
    def stamp(t: datetime.timedelta) -> str:
        ms = t // datetime.timedelta(milliseconds=1)  # cut to the millisecond, as .srt is
        h, m, sec = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        return f"{h:02d}:{m:02d}:{sec:02d}.{ms % 1000:03d}"

    def text(s: str) -> str:  # cue text is markup in WebVTT: a word is only ever text
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    blocks = [f"{k}\n{stamp(c.start)} --> {stamp(c.end)}\n{text(c.content)}"
              for k, c in enumerate(cues, start=1)]
    return "WEBVTT\n\n" + "".join(b + "\n\n" for b in blocks)


def to_txt(cues: list[srt.Subtitle]) -> str:
    return "".join(" ".join(c.content.split()) + "\n" for c in cues)


def video_seconds(path: Path) -> float:
    """Seconds of picture: the end of the last frame (a soundtrack may end a little later)."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        end = max((p.pts + (p.duration or 0)) for p in c.demux(stream) if p.pts is not None)
        return float(end * stream.time_base)


def cut(cues: list[srt.Subtitle], start: float, length: float) -> list[srt.Subtitle]:
    """The cues that begin inside [start, start + length), in that clip's time. A clip starts
    at a frame (11.3333… s at 3 fps) and its first cue at that time cut to the millisecond
    (11.333): it starts the clip at 0, not a fraction of a millisecond before (srt drops a cue
    that starts before 0)."""
    t0, t1 = datetime.timedelta(seconds=start), datetime.timedelta(seconds=start + length)
    eps, zero = datetime.timedelta(milliseconds=1), datetime.timedelta(0)
    return [srt.Subtitle(0, max(c.start - t0, zero), min(c.end, t1) - t0, c.content)
            for c in cues if t0 - eps <= c.start < t1 - eps]


def with_captions(pairs: list[tuple[Path, Path]], work: Path, name: str):
    """``pairs`` (file written, final path) of one render, with captions and a transcript
    added for the video and for every section clip."""
    srt_pair = next(((s, d) for s, d in pairs if d.name == f"{name}.srt"), None)
    if srt_pair is None:
        return pairs
    cues = list(srt.parse(srt_pair[0].read_text(encoding="utf-8")))
    out, offset = [], 0.0
    for src, dst in pairs:
        if dst.suffix == ".srt":
            continue
        out.append((src, dst))
        if dst.suffix not in VIDEO_SUFFIXES:
            continue
        if dst.stem == name:  # the whole video: the cues as they are
            clip_cues = cues
        else:  # a section clip: the clips follow each other from the start
            length = video_seconds(src)
            clip_cues, offset = cut(cues, offset, length), offset + length
        for suffix, text in ((".srt", srt.compose(clip_cues)), (".vtt", to_vtt(clip_cues)),
                             (".txt", to_txt(clip_cues))):
            file = work / f"captions-{dst.stem}{suffix}"
            file.write_text(text, encoding="utf-8")
            out.append((file, dst.with_suffix(suffix)))
    return out
