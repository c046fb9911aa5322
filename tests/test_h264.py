"""Still holds written without the encoder (engine/h264.py, engine.writer.HeldStream): the
repeats decode as the held frame, to the pixel, with nothing for a decoder to complain of;
their CABAC bits are the standard's and the ones x264 writes for a skipped frame."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import av.logging
import numpy as np
import pytest
from PIL import Image

from engine import h264
from engine.writer import X264, HeldStream

W, H = 320, 192
SETTINGS = {  # qkv's, and two that change what the slice header and data hold
    "qkv": dict(X264),
    "cavlc": {**X264, "x264-params": X264["x264-params"] + ":cabac=0"},
    "medium: lookahead, b-frames, picture order type 0": {"crf": "23", "preset": "medium"},
}


def picture(seed: int = 0) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[40:120, 30 + 40 * seed:200 + 40 * seed, 0] = 200  # a block that moves with seed
    rgba[::7, ::5, 1] = rng.integers(0, 256, (len(range(0, H, 7)), len(range(0, W, 5))))
    rgba[H // 2:, :, 2] = (np.arange(W) + 64 * seed) % 256
    return av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuv420p")


def clip(options: dict, puts: list[tuple[av.VideoFrame, int]]) -> tuple[bytes, list[int]]:
    """An mp4 clip made as Manim's encode job makes one, through HeldStream; its bytes and
    the size of each video packet."""
    out = io.BytesIO()
    container = av.open(out, "w", format="mp4")
    stream = container.add_stream("libx264", rate=Fraction(60))
    stream.pix_fmt, stream.width, stream.height = "yuv420p", W, H
    stream.codec_context.options = {"an": "1", **options}
    sizes = []

    def mux(packet):
        sizes.append(packet.size)
        container.mux(packet)

    held = HeldStream(stream, mux)
    for frame, count in puts:
        held.put(frame, count)
    for packet in held.encode():  # as the job ends its stream
        mux(packet)
    container.close()
    return out.getvalue(), sizes


def decoded(data: bytes) -> tuple[list[np.ndarray], list[str]]:
    """Every frame of an mp4 and what the decoder said of it that sounds wrong."""
    av.logging.set_level(av.logging.TRACE)
    try:
        with av.logging.Capture() as logs, av.open(io.BytesIO(data)) as c:
            frames = [f.to_ndarray() for f in c.decode(video=0)]
    finally:
        av.logging.set_level(None)
    words = ("gap", "error", "conceal", "missing", "invalid", "overread", "corrupt")
    bad = [text for level, _, text in logs
           if level <= av.logging.WARNING or any(w in text.lower() for w in words)]
    return frames, bad


@pytest.mark.parametrize("setting", SETTINGS)
def test_a_hold_is_encoded_once_and_its_repeats_show_it_again(setting, monkeypatch):
    """A clip that is one hold of 40 frames (Manim hands the frame once with a count): one
    frame from x264, 39 written skipped frames of a few bytes; all 40 decode, each equal to
    the first, with no complaint from the decoder (frame numbers wrap past MaxFrameNum 16);
    the first is the frame x264 makes when it encodes every repeat (with no lookahead: with
    one, x264 gives a frame that stays longer more bits)."""
    monkeypatch.delenv("QKV_HOLDS", raising=False)
    data, sizes = clip(SETTINGS[setting], [(picture(), 40)])
    frames, bad = decoded(data)
    assert len(frames) == 40 and not bad, bad
    assert all(np.array_equal(frames[0], f) for f in frames)
    assert len(sizes) == 40 and max(sizes[1:]) < 30 < sizes[0]
    assert near(frames[0], picture())
    monkeypatch.setenv("QKV_HOLDS", "encode")  # every repeat through x264, as before
    encoded, sizes = clip(SETTINGS[setting], [(picture(), 40)])
    everyone, bad = decoded(encoded)
    assert len(everyone) == 40 and not bad
    assert np.array_equal(everyone[0], frames[0]) or "lookahead" in setting


def near(decoded: np.ndarray, source: av.VideoFrame) -> bool:
    """A decoded frame is its source as x264 at crf 23 keeps it (mean error under 3 levels),
    and not another picture."""
    return np.abs(decoded.astype(int) - source.to_ndarray()).mean() < 3


def test_a_frame_after_a_hold_in_its_clip_follows_the_holds_repeats():
    """Manim's holds are clips of their own; should a frame follow one in its clip, the
    hold's repeats are encoded first and the new frame comes after them."""
    data, sizes = clip(X264, [(picture(0), 5), (picture(1), 1), (picture(2), 3)])
    frames, bad = decoded(data)
    assert len(frames) == 9 and not bad
    assert len(sizes) == 9 and min(sizes[1:5]) > 30  # the repeats encoded, not skipped
    pictures = [picture(0)] * 5 + [picture(1)] + [picture(2)] * 3
    assert all(near(f, p) for f, p in zip(frames, pictures))
    assert not near(frames[4], picture(1)) and not near(frames[5], picture(2))


def cabac_decoded(data: bytes, macroblocks: int, slice_qp: int) -> tuple[list[int], str, str]:
    """The skip flags a standard CABAC decoder (H.264 9.3.3.2) reads from a skipped slice's
    data, until end_of_slice_flag is 1; the last bit it read, and the bits after it."""
    bits, at = "".join(f"{b:08b}" for b in data), 0

    def read(n: int) -> int:
        nonlocal at
        at += n
        return int(bits[at - n:at], 2)

    m, n = h264.SKIP_CONTEXT
    pre = min(max(((m * min(max(slice_qp, 0), 51)) >> 4) + n, 1), 126)
    state, mps = (63 - pre, 0) if pre <= 63 else (pre - 64, 1)
    rng, offset, flags = 510, read(9), []
    for _ in range(macroblocks + 1):
        lps = h264.RANGE_LPS[state][(rng >> 6) & 3]
        rng -= lps
        if offset < rng:
            flags.append(mps)
            state = min(state + 1, 62)
        else:
            flags.append(1 - mps)
            offset, rng = offset - rng, lps
            mps = 1 - mps if state == 0 else mps
            state = h264.TRANS_LPS[state]
        while rng < 256:
            rng, offset = rng << 1, (offset << 1) | read(1)
        rng -= 2  # end_of_slice_flag
        if offset >= rng:
            break
        while rng < 256:
            rng, offset = rng << 1, (offset << 1) | read(1)
    return flags, bits[at - 1], bits[at:]


@pytest.mark.parametrize("macroblocks, qp", [(240, 22), (920, 22), (1620, 30), (8160, 18),
                                             (32400, 23)])
def test_skipped_macroblocks_are_coded_as_the_standard_decodes_them(macroblocks, qp):
    """The slice data written for every size and quantiser: a standard decoder reads exactly
    ``macroblocks`` skip flags of 1, ends the slice after the last, and the last bit it read
    is the stop bit, only zeros after it."""
    flags, last, rest = cabac_decoded(h264.skipped_cabac(macroblocks, qp), macroblocks, qp)
    assert flags == [1] * macroblocks
    assert last == "1" and set(rest) <= {"0"} and len(rest) < 8


@pytest.mark.parametrize("width, height", [(320, 192), (640, 368)])
def test_skipped_macroblocks_are_coded_as_x264_codes_them(width, height):
    """x264 given the same picture again and again ends up sending P frames of skipped
    macroblocks: their slice data are the bits written here, up to the stop bit (x264
    then sets a bit of the alignment as it likes: a decoder reads no further)."""
    out = io.BytesIO()
    container = av.open(out, "w", format="mp4")
    stream = container.add_stream("libx264", rate=Fraction(60))
    stream.pix_fmt, stream.width, stream.height = "yuv420p", width, height
    stream.codec_context.options = {"an": "1", **X264}
    still = av.VideoFrame.from_ndarray(
        np.tile(np.arange(width, dtype=np.uint8)[None, :, None], (height, 1, 4)),
        format="rgba").reformat(format="yuv420p")
    packets = []
    for _ in range(14):
        still.pts = None
        packets += [bytes(p) for p in stream.encode(still)]
    packets += [bytes(p) for p in stream.encode()]
    params = h264.parameter_sets(stream.codec_context.extradata)
    container.close()
    assert params.macroblocks == (width // 16) * (-(-height // 16))
    qp, data = x264_slice_data(packets[-1], params)
    ours = h264.skipped_cabac(params.macroblocks, qp)
    _, _, rest = cabac_decoded(ours, params.macroblocks, qp)
    stop = 8 * len(ours) - len(rest)
    assert len(data) == len(ours)
    assert f"{int.from_bytes(data, 'big'):0{8 * len(data)}b}"[:stop] \
        == f"{int.from_bytes(ours, 'big'):0{8 * len(ours)}b}"[:stop]


def x264_slice_data(packet: bytes, params: h264.Params) -> tuple[int, bytes]:
    """An x264 P slice's QP and its slice data (after the header and alignment)."""
    b = h264.Bits(h264.unescaped(packet[packet.index(b"\x00\x00\x01") + 3:]))
    assert b.ue() == 0 and b.ue() in (0, 5)
    b.ue(), b.u(params.log2_max_frame_num)
    if params.poc_type == 0:
        b.u(params.log2_max_poc_lsb)
    refs = b.ue() + 1 if b.u(1) else 1
    assert b.u(1) == 0
    if params.weighted_pred:
        b.ue(), b.ue()
        for _ in range(refs):
            for count in (2, 4):  # luma weight and offset; chroma's two of each
                if b.u(1):
                    [b.se() for _ in range(count)]
    b.u(1)
    assert b.ue() == 0  # cabac_init_idc
    qp = params.slice_qp + b.se()
    if params.deblocking_control and b.ue() != 1:
        b.se(), b.se()
    while b.left % 8:
        assert b.u(1) == 1
    return qp, (b.value & ((1 << b.left) - 1)).to_bytes(b.left // 8, "big")


def test_parameter_sets_it_cannot_follow_leave_holds_to_the_encoder():
    """No parameter sets, cut short, or a stream of intra frames only (x264 keyint=1: no
    reference frame for a P slice): every repeat is encoded by x264."""
    assert h264.parameter_sets(None) is None
    assert h264.parameter_sets(b"") is None
    assert h264.parameter_sets(b"\x00\x00\x00\x01\x67\xff\xff") is None  # cut short
    intra = {**X264, "x264-params": X264["x264-params"] + ":keyint=1"}
    data, sizes = clip(intra, [(picture(), 10)])
    frames, bad = decoded(data)
    assert len(frames) == 10 and not bad and min(sizes) > 100


PAGE = """<html><body style="margin:0"><video id="v" muted preload="auto" src="hold.mp4">
</video><script>
const v = document.getElementById('v');
window.loaded = new Promise((ok, bad) => {
  if (v.readyState >= 2) ok(); else { v.onloadeddata = ok; v.onerror = () => bad(v.error.code); }
});
window.seek = t => new Promise(ok => { v.onseeked = () => setTimeout(ok, 200); v.currentTime = t; });
window.playAll = async () => {
  v.currentTime = 0; await v.play();
  await new Promise((ok, bad) => { v.onended = ok; v.onerror = () => bad(v.error.code); });
  return [v.ended, v.getVideoPlaybackQuality().totalVideoFrames];
};
</script></body></html>"""


def test_a_held_clip_plays_in_chromium(tmp_path):
    """Chromium's own player (its mp4 reader, its decoder) shows a clip of one picture and a
    hold of 59 written repeats, then another picture: the same picture at the hold's first,
    middle and last frame, the next one after it, and plays it to the end (1.5 s, 90
    frames)."""
    from tests.test_slides import chromium

    data, _ = clip(X264, [(picture(0), 60)])
    second, _ = clip(X264, [(picture(1), 30)])
    (tmp_path / "a.mp4").write_bytes(data)
    (tmp_path / "b.mp4").write_bytes(second)
    (tmp_path / "list.txt").write_text("file 'a.mp4'\nfile 'b.mp4'\n")
    joined = tmp_path / "hold.mp4"  # the two clips one after the other, as Manim joins them
    with av.open(str(tmp_path / "list.txt"), format="concat", options={"safe": "0"}) as src, \
            av.open(str(joined), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            packet.dts = None
            packet.stream = stream
            out.mux(packet)
    (tmp_path / "page.html").write_text(PAGE)
    driver = chromium()
    try:
        driver.set_script_timeout(60)
        driver.get((tmp_path / "page.html").as_uri())
        state = driver.execute_async_script(
            "loaded.then(() => arguments[0]('ok')).catch(e => arguments[0]('error ' + e))")
        assert state == "ok", state
        shown = []
        for k in (0, 30, 59, 61):  # the picture on screen at frame k (a screenshot)
            driver.execute_async_script(f"seek({(k + 0.5) / 60}).then(arguments[0])")
            png = driver.find_element("id", "v").screenshot_as_png
            shown.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
        ended, frames = driver.execute_async_script(
            "playAll().then(arguments[0]).catch(e => arguments[0]([false, e]))")
    finally:
        driver.quit()
    assert shown[0].shape[:2] == (H, W)
    assert np.array_equal(shown[0], shown[1]) and np.array_equal(shown[0], shown[2])
    assert np.abs(shown[2].astype(int) - shown[3]).mean() > 10  # the next picture
    assert ended and frames >= 80, frames
