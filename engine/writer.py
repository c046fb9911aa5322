"""How qkv's videos are encoded: Manim's file writer with two changes, both measured
(``benchmarks/encoder_bench.py``; benchmarks/RESULTS.md has the figures).

1. x264 settings for this kind of picture (flat colours, text, long still holds) instead of
   Manim's hard-coded ``crf 23`` with the default (medium) preset: :data:`X264`.
2. A still hold (``self.wait``, and every frame of a beat's pause) is converted from RGBA to
   the encoder's YUV once, not once per frame (Manim hands the same frame ``num_frames`` times
   to the encoder and converts it each time), and only its first frame is encoded: the
   repeats are written as frames that show it again (:class:`HeldStream`, engine/h264.py).
   A frame that changed only in a box has only the box converted (:class:`Changes`).
3. Frames are drawn into arrays of a pool (:data:`FRAMES`) that the encoder gives back once
   it has converted them, and handed to it as they are (engine/renderer.py: the camera starts
   each frame in a fresh array of the pool): no copy of 8 MB a frame at 1080p (33 MB at 4K),
   and no new memory for the kernel to map and zero. The encoder converts the pool's array
   where it is (:func:`rgba_frame`), and glibc keeps what the encoders free
   (:func:`keep_freed_memory`).

Manim is pinned below 0.22; this subclass overrides one method of its ``SceneFileWriter`` and
one of the encode job it creates, and falls back to Manim's own code for anything else
(webm, transparent mov).
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections import deque

import av  # (Manim's file writer imports it too)
from av.video.reformatter import VideoReformatter
import numpy as np
from manim.scene.scene_file_writer import SceneFileWriter

from engine import h264

# libx264 options for mp4 (and opaque mov). For the encoder benchmark, QKV_X264="key=value,..."
# replaces them, and QKV_X264=manim leaves Manim's writer exactly as it is.
# superfast, and: whole-pixel motion search (subme=0: no half-pel planes to interpolate for
# every frame), no B-frames (no frame-type decisions), one thread per encoder (Manim already
# encodes up to ENCODERS_IN_FLIGHT clips at once beside the drawing; x264's sliced threads
# cost more CPU), qcomp 0.8 (a steadier quantiser: back under 1.5x Manim's file size).
# benchmarks/RESULTS.md, "The encoder": 27% less wall than plain superfast on two scenes at
# 1080p60, the same SSIM against Manim's writer (min 0.992), 1.46x its size.
X264 = {"crf": "23", "preset": "superfast",
        "x264-params": "subme=0:bframes=0:threads=1:qcomp=0.8"}


def x264_options() -> dict[str, str] | None:
    raw = os.environ.get("QKV_X264")
    if raw is None:
        return dict(X264)
    if raw == "manim":
        return None
    return dict(item.split("=", 1) for item in raw.split(",") if item)


class FramePool:
    """Arrays for frames on their way to the encoder: :meth:`take` one shaped like the
    camera's pixels (one given back before, or a new one), :meth:`give` it back when its
    pixels have been read. Only arrays this pool made are kept; at most ``keep`` wait."""

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._free: deque[np.ndarray] = deque()  # append and pop are atomic: two threads
        self._made: dict[int, weakref.ref] = {}  # id -> the array (arrays are unhashable)
        self._notes: dict[int, tuple] = {}  # id -> what the drawing knows of its pixels

    def take(self, like: np.ndarray) -> np.ndarray:
        while True:
            try:
                frame = self._free.pop()
            except IndexError:
                frame = np.empty_like(like)
                key = id(frame)
                self._made[key] = weakref.ref(frame, lambda _, key=key: self._forget(key))
                return frame
            if frame.shape == like.shape and frame.dtype == like.dtype:
                return frame

    def _forget(self, key: int) -> None:
        self._made.pop(key, None)
        self._notes.pop(key, None)

    def made(self, frame) -> bool:
        mine = self._made.get(id(frame))
        return mine is not None and mine() is frame

    def give(self, frame: np.ndarray) -> None:
        self._notes.pop(id(frame), None)
        if self.made(frame) and len(self._free) < self.keep:
            self._free.append(frame)

    def note(self, frame: np.ndarray, background=None, box=None) -> None:
        """What the drawing knows of ``frame``, one of this pool's arrays on its way to the
        encoder: its pixels are ``background``'s outside ``box`` (rows y0:y1, columns x0:x1);
        no background: nothing known."""
        if background is None or box is None or not self.made(frame):
            self._notes.pop(id(frame), None)
        else:
            self._notes[id(frame)] = (background, box)

    def noted(self, frame) -> tuple | None:
        """(background, box) as :meth:`note` left them for ``frame``, or None."""
        return self._notes.get(id(frame)) if self.made(frame) else None


FRAMES = FramePool()  # the renderer takes (engine/renderer.py), the encoder gives back

# glibc's malloc settings while rendering (mallopt's parameter numbers, from malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MALLOPT = {
    M_TRIM_THRESHOLD: 1 << 30,  # freed memory at a heap's top kept up to 1 GiB
    M_MMAP_THRESHOLD: 32 << 20,  # blocks under 32 MiB (a 1080p frame, 4K YUV) from the heap
    M_ARENA_MAX: 2,  # encoder and x264 threads share two heaps, not one each
}
PR_SET_THP_DISABLE = 41  # prctl: no transparent huge pages for this process and its children


def keep_freed_memory() -> bool:
    """Memory for encoding that the kernel does not map and zero again and again.

    Each animation's clip opens an x264 encoder whose threads allocate and free their frame
    buffers (x264 asks for huge pages on each buffer over 1.75 MB), and every frame's
    conversion to YUV allocates megabytes. With the kernel's transparent huge pages and
    glibc's defaults, a third of a 1080p60 render's CPU time was the kernel's (8.4 s system
    of 26 s; ``perf``: zeroing fresh 2 MB pages on x264's page faults). So: no huge pages for
    this process (small pages fault in a fraction of the time, and only where touched), and
    glibc keeps freed memory for the next frame and clip (trimmed heaps, a heap per thread
    and blocks over an adaptive mmap threshold went back to the kernel). Settings only, the
    same frames. Linux with glibc; elsewhere nothing changes. Returns whether all applied."""
    try:
        libc = ctypes.CDLL(None)
        mallopt, prctl = libc.mallopt, libc.prctl
    except (OSError, AttributeError):  # not Linux with glibc
        return False
    kept = [mallopt(param, value) == 1 for param, value in MALLOPT.items()]
    return all(kept) and prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0


class QkvFileWriter(SceneFileWriter):
    """Manim's file writer, with qkv's encoder settings and cheap still holds."""

    def __init__(self, *args, **kwargs):
        if x264_options() is not None:  # (QKV_X264=manim: Manim's writer as it is)
            keep_freed_memory()
        super().__init__(*args, **kwargs)

    def open_partial_movie_stream(self, *args, **kwargs) -> None:
        # (Manim 0.21: file_path=None; 0.22: *, animation_index, file_path=None)
        super().open_partial_movie_stream(*args, **kwargs)
        job, options = self._current_encode_job, x264_options()
        if job is None or options is None or job.stream.codec_context.name != "libx264":
            return
        job.stream.codec_context.options = {"an": "1", **options}  # read when it opens
        job._encode_and_write_frame = _frame_writer(job)


def _frame_writer(job):
    """The encode job's frame writer: a frame repeated ``num_frames`` times is converted to
    the stream's pixel format once (and a clip that is one still hold encoded once:
    :class:`HeldStream`). A frame that differs from the one before only in a box
    (:class:`Changes`) has only that box converted."""
    changes = Changes(job.stream.pix_fmt)
    job.stream = stream = HeldStream(job.stream, job.container.mux)

    def encode(frame, num_frames: int) -> None:
        f = changes.converted(frame, still=num_frames > 1)
        FRAMES.give(frame)
        stream.put(f, num_frames)

    return encode


class HeldStream:
    """A clip's video stream as its encode job sees it, for still holds.

    A frame repeated is handed to the encoder each time as the same converted frame (x264
    copies a picture in when it is given one). But a clip that is one still hold (a
    ``self.wait``: Manim hands its frame once with a count) gets only its first frame from
    the encoder; the repeats are written when the job ends the stream (``encode()``), as
    P frames of skipped macroblocks that show the frame again (engine/h264.py): x264 spends
    as long on a repeated frame as on a new one (16 ms a 2160p frame). If anything follows
    a hold in its clip, the repeats are encoded as before first. QKV_HOLDS=encode: every
    repeat encoded by x264 (benchmarks/render_bench.py's floor of encoding)."""

    def __init__(self, stream, mux):
        self.stream, self.mux = stream, mux
        self.frames = 0  # handed to the encoder
        self.pts, self.time_base = -1, None  # of the encoder's last packet
        self.repeats: tuple | None = None  # (the frame, its count, the parameter sets)

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def put(self, f, num_frames: int) -> None:
        if self.repeats is not None:  # something follows the hold: encode its repeats
            frame, count, _ = self.repeats
            self.repeats = None
            self._encode(frame, count)
        if num_frames > 1 and self.frames == 0 and os.environ.get("QKV_HOLDS") != "encode":
            self._encode(f, 1)
            params = h264.parameter_sets(self.stream.codec_context.extradata)
            if params is not None:
                self.repeats = (f, num_frames - 1, params)
                return
            num_frames -= 1
        self._encode(f, num_frames)

    def _encode(self, f, count: int) -> None:
        for _ in range(count):
            f.pts = None  # numbered by the encoder, as a fresh frame is
            for packet in self.stream.encode(f):
                self.pts, self.time_base = packet.pts, packet.time_base
                self.mux(packet)
        self.frames += count

    def encode(self, frame=None):
        """The stream's ``encode``; at the end (no frame), the encoder's last packets, then a
        hold's repeats."""
        if frame is not None:
            return self.stream.encode(frame)
        packets = list(self.stream.encode())
        if self.repeats is None:
            return packets
        for packet in packets:
            self.pts, self.time_base = packet.pts, packet.time_base
        _, count, params = self.repeats
        self.repeats = None
        for index in range(1, count + 1):  # (the clip's one encoded frame is frame 0)
            packet = av.Packet(h264.skip_frame(params, index))
            packet.pts = packet.dts = self.pts + index
            packet.time_base, packet.stream = self.time_base, self.stream
            packets.append(packet)
        return packets


class Changes:
    """One clip's frames in the encoder's YUV, converted box by box: a frame drawn over the
    same background as the frame before it (engine/renderer.py notes which, in
    :data:`FRAMES`) differs from it only inside the two boxes drawn over; only their union is
    converted (swscale, as for a whole frame), into the YUV frame kept from before. At 4K a
    whole frame's conversion is 17-25 ms; a LaggedStart's box a tenth of it.

    The same bytes as converting the whole frame (tests/test_engine.py): a pixel's luma is
    its own, a chroma sample averages two columns and filters rows across the neighbouring
    chroma row: so the box, from even rows and columns, is kept with the chroma row beside
    each edge (KEPT pixel rows), converted from MARGIN rows beyond those."""

    KEPT = 2  # pixel rows kept beyond a box: the chroma row its edge rows reach
    MARGIN = 2  # and converted beyond those (swscale's chroma filter reaches one chroma row)
    ALIGN = 16  # columns start and end on multiples of this (or the frame's edge)

    def __init__(self, pix_fmt: str):
        self.pix_fmt = pix_fmt
        self.reformatter = VideoReformatter()
        self.boxes = 0  # frames converted box by box
        self.forget()

    def forget(self) -> None:
        self.yuv = self.background = self.box = None

    def whole(self, frame: np.ndarray):
        """``frame`` converted whole, on this thread (the drawing and the other clips'
        encoders keep the other cores busy; swscale's own threads, made and ended for each
        conversion, cost more than they gave)."""
        return self.reformatter.reformat(rgba_frame(frame), format=self.pix_fmt, threads=1)

    def converted(self, frame: np.ndarray, still: bool = False):
        """``frame`` in the encoder's YUV: only the box that changed since the frame before
        converted when the drawing noted one, else the whole frame. A ``still`` frame (a
        hold) is converted whole and forgotten."""
        note = None if still else FRAMES.noted(frame)
        if note is None or self.pix_fmt != "yuv420p" or frame.shape[0] % 2 \
                or frame.shape[1] % 2:
            self.forget()
            return self.whole(frame)
        background, box = note
        if self.yuv is None or background is not self.background:
            self.yuv = self.whole(frame)
            self.background, self.box = background, box
            return self.yuv
        dirty, self.box = union(box, self.box), box
        if dirty is None:
            return self.yuv
        h, w = frame.shape[:2]
        y0, y1, x0, x1 = dirty
        y0, y1 = max(0, y0 // 2 * 2 - self.KEPT), min(h, (y1 + 1) // 2 * 2 + self.KEPT)
        x0, x1 = x0 // self.ALIGN * self.ALIGN, min(w, -(-x1 // self.ALIGN) * self.ALIGN)
        top, bottom = max(0, y0 - self.MARGIN), min(h, y1 + self.MARGIN)
        part = self.reformatter.reformat(rgba_frame(frame[top:bottom, x0:x1]),
                                         format=self.pix_fmt, threads=1)
        for plane, into, s in zip(part.planes, self.yuv.planes, (1, 2, 2)):
            src = plane_array(plane, (bottom - top) // s, (x1 - x0) // s)
            dst = plane_array(into, h // s, w // s)
            dst[y0 // s:y1 // s, x0 // s:x1 // s] = src[(y0 - top) // s:(y1 - top) // s]
        self.boxes += 1
        return self.yuv


def union(a, b):
    """The smallest box (y0, y1, x0, x1) holding boxes a and b (an empty box holds nothing);
    None if both are empty."""
    boxes = [box for box in (a, b) if box is not None and box[0] < box[1] and box[2] < box[3]]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), max(b[1] for b in boxes),
            min(b[2] for b in boxes), max(b[3] for b in boxes))


def plane_array(plane, rows: int, cols: int) -> np.ndarray:
    """A PyAV plane's pixels as a (rows, cols) uint8 array over its memory."""
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols]


def rgba_frame(frame: np.ndarray):
    """A PyAV frame reading ``frame``'s pixels where they are (PyAV's ``from_ndarray`` copies
    them into new memory first: 8 MB a frame at 1080p, 33 MB at 4K, more than glibc keeps, so
    the kernel maps and zeroes it anew each frame; and a box cut from a frame, row by row, at
    twice the cost of converting it). Rows may lie apart (a box of a frame: FFmpeg's line
    size); a copy only for an array whose pixels within a row are not side by side."""
    if frame.ndim == 3 and frame.strides[1:] == (4, 1) and frame.strides[0] > 0 \
            and frame.dtype == np.uint8:
        return av.VideoFrame.from_numpy_buffer(frame, format="rgba")
    return av.VideoFrame.from_ndarray(frame, format="rgba")
