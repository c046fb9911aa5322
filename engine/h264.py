"""A still hold's frames without the encoder: H.264 P frames in which every macroblock is
skipped (the picture before, shown again), written here for the encoder's own stream.

A hold (``self.wait``, a beat's pause) is one clip of one picture repeated. x264 spends as
long on a frame that repeats the one before as on any other (it analyses every macroblock:
16 ms a 2160p frame, 3.7 ms a 1080p one, on this kind of machine), and a third to a half of an
explainer's frames are holds. So a hold's clip gets its first frame from x264 (an IDR frame)
and every repeat as a frame written here: a P slice whose macroblocks are all P_Skip, which
a decoder reconstructs as exactly the picture before (motion vector 0 from reference 0,
no residual, no deblocking). Its header follows the encoder's sequence and picture
parameter sets (read from the stream's extradata); a stream whose parameter sets use what
this does not write (interlacing, slice groups, picture order type 1, scaling lists, 4:4:4
colour planes) is left to the encoder (:func:`parameter_sets` returns None).

ITU-T H.264 (08/2021): 7.3.2 parameter sets, 7.3.3 slice header, 7.3.4 slice data, 9.3
CABAC (tables 9-12/9-13 for the skip flag's context, 9-44 and 9-45 for the coder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

START = b"\x00\x00\x00\x01"
NAL_SPS, NAL_PPS, NAL_SLICE = 7, 8, 1
P_SLICE = 5  # slice_type 5: P, and every slice of the picture is P
REF_IDC = 2  # nal_ref_idc of a reference P frame (x264's)
HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
SKIP_CONTEXT = (23, 33)  # (m, n) of ctxIdx 11, mb_skip_flag in a P slice, cabac_init_idc 0

# Table 9-44: rangeTabLPS[pStateIdx][qCodIRangeIdx]; Table 9-45: transIdxLPS
RANGE_LPS = (
    (128, 176, 208, 240), (128, 167, 197, 227), (128, 158, 187, 216), (123, 150, 178, 205),
    (116, 142, 169, 195), (111, 135, 160, 185), (105, 128, 152, 175), (100, 122, 144, 166),
    (95, 116, 137, 158), (90, 110, 130, 150), (85, 104, 123, 142), (81, 99, 117, 135),
    (77, 94, 111, 128), (73, 89, 105, 122), (69, 85, 100, 116), (66, 80, 95, 110),
    (62, 76, 90, 104), (59, 72, 86, 99), (56, 69, 81, 94), (53, 65, 77, 89),
    (51, 62, 73, 85), (48, 59, 69, 80), (46, 56, 66, 76), (43, 53, 63, 72),
    (41, 50, 59, 69), (39, 48, 56, 65), (37, 45, 54, 62), (35, 43, 51, 59),
    (33, 41, 48, 56), (32, 39, 46, 53), (30, 37, 43, 50), (29, 35, 41, 48),
    (27, 33, 39, 45), (26, 31, 37, 43), (24, 30, 35, 41), (23, 28, 33, 39),
    (22, 27, 32, 37), (21, 26, 30, 35), (20, 24, 29, 33), (19, 23, 27, 31),
    (18, 22, 26, 30), (17, 21, 25, 28), (16, 20, 23, 27), (15, 19, 22, 25),
    (14, 18, 21, 24), (14, 17, 20, 23), (13, 16, 19, 22), (12, 15, 18, 21),
    (12, 14, 17, 20), (11, 14, 16, 19), (11, 13, 15, 18), (10, 12, 15, 17),
    (10, 12, 14, 16), (9, 11, 13, 15), (9, 11, 12, 14), (8, 10, 12, 14),
    (8, 9, 11, 13), (7, 9, 11, 12), (7, 9, 10, 12), (7, 8, 10, 11),
    (6, 8, 9, 11), (6, 7, 9, 10), (6, 7, 8, 9), (2, 2, 2, 2),
)
TRANS_LPS = (
    0, 0, 1, 2, 2, 4, 4, 5, 6, 7, 8, 9, 9, 11, 11, 12,
    13, 13, 15, 15, 16, 16, 18, 18, 19, 19, 21, 21, 22, 22, 23, 24,
    24, 25, 26, 26, 27, 27, 28, 29, 29, 30, 30, 30, 31, 32, 32, 33,
    33, 33, 34, 34, 35, 35, 35, 36, 36, 36, 37, 37, 37, 38, 38, 63,
)


@dataclass(frozen=True)
class Params:
    """What a skipped P slice's header and data depend on, from the SPS and PPS."""

    macroblocks: int
    log2_max_frame_num: int
    poc_type: int  # 0 or 2
    log2_max_poc_lsb: int
    chroma: bool  # ChromaArrayType != 0
    pps_id: int
    cabac: bool
    bottom_field_poc: bool
    weighted_pred: bool
    slice_qp: int
    deblocking_control: bool
    redundant_pic_cnt: bool


class Bits:
    """Bits read from an RBSP: u(n), ue(v), se(v)."""

    def __init__(self, data: bytes):
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise ValueError("parameter set ends early")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


class Writer:
    """Bits written into an RBSP: u(n), ue(v), se(v), then the trailing bits."""

    def __init__(self):
        self.value, self.count = 0, 0

    def u(self, n: int, v: int) -> None:
        self.value, self.count = (self.value << n) | (v & ((1 << n) - 1)), self.count + n

    def ue(self, v: int) -> None:
        n = (v + 1).bit_length()
        self.u(2 * n - 1, v + 1)

    def se(self, v: int) -> None:
        self.ue(2 * v - 1 if v > 0 else -2 * v)

    def align(self, bit: int) -> None:
        while self.count % 8:
            self.u(1, bit)

    def bytes(self) -> bytes:
        return self.value.to_bytes(self.count // 8, "big")


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units (header byte first, still escaped) of Annex B bytes or of an avcC
    record (what an mp4 keeps as extradata)."""
    if data[:1] == b"\x01":  # avcC: version 1, then SPSs and PPSs with 16-bit lengths
        units, at = [], 5
        for _ in range(2):
            count = data[at] & 0x1F if not units else data[at]
            at += 1
            for _ in range(count):
                size = int.from_bytes(data[at:at + 2], "big")
                units.append(data[at + 2:at + 2 + size])
                at += 2 + size
        return units
    return [unit.rstrip(b"\x00") for unit in re.split(b"\x00\x00\x01", data) if unit]


def unescaped(unit: bytes) -> bytes:
    """A NAL unit's RBSP: its payload with the emulation prevention bytes taken out."""
    return re.sub(b"\x00\x00\x03(?=[\x00-\x03])", b"\x00\x00", unit[1:])


def escaped(rbsp: bytes) -> bytes:
    """An RBSP with emulation prevention bytes put in (no 00 00 0x, x <= 3, left)."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def parameter_sets(extradata: bytes | None) -> Params | None:
    """The stream's SPS and PPS as far as a skipped P slice needs them, or None if absent or
    using something :func:`skip_frame` does not write."""
    if not extradata:
        return None
    try:
        units = nal_units(bytes(extradata))
        sps = [unescaped(u) for u in units if u and u[0] & 0x1F == NAL_SPS]
        pps = [unescaped(u) for u in units if u and u[0] & 0x1F == NAL_PPS]
        if len(sps) != 1 or len(pps) != 1:
            return None
        return _parse(Bits(sps[0]), Bits(pps[0]))
    except (ValueError, IndexError):
        return None


def _parse(s: Bits, p: Bits) -> Params | None:
    profile = s.u(8)
    s.u(16)  # constraint flags, level
    sps_id = s.ue()
    chroma_format = 1
    if profile in HIGH_PROFILES:
        chroma_format = s.ue()
        if chroma_format == 3 and s.u(1):  # separate colour planes
            return None
        s.ue(), s.ue(), s.u(1)  # bit depths, transform bypass
        if s.u(1):  # scaling matrices
            return None
    log2_max_frame_num = s.ue() + 4
    poc_type = s.ue()
    log2_max_poc_lsb = s.ue() + 4 if poc_type == 0 else 0
    if poc_type == 1:
        return None
    if s.ue() == 0:  # max_num_ref_frames: intra only (keyint=1), no frame to refer to
        return None
    s.u(1)  # gaps allowed
    width, height = s.ue() + 1, s.ue() + 1
    if not s.u(1):  # frame_mbs_only_flag: fields or MBAFF
        return None
    pps_id, pps_sps = p.ue(), p.ue()
    cabac, bottom_field_poc = p.u(1), p.u(1)
    if p.ue() != 0 or pps_sps != sps_id:  # slice groups
        return None
    p.ue(), p.ue()  # default reference counts
    weighted_pred = p.u(1)
    p.u(2)
    slice_qp = 26 + p.se()
    p.se(), p.se()  # qs, chroma qp offset
    deblocking_control = p.u(1)
    p.u(1)
    redundant = p.u(1)
    return Params(width * height, log2_max_frame_num, poc_type, log2_max_poc_lsb,
                  chroma_format != 0, pps_id, bool(cabac), bool(bottom_field_poc),
                  bool(weighted_pred), slice_qp, bool(deblocking_control), bool(redundant))


def skip_frame(params: Params, index: int) -> bytes:
    """The ``index``-th frame after the clip's IDR frame (frame 0), showing it again: one
    Annex B NAL unit, a reference P slice of skipped macroblocks."""
    w = Writer()
    w.ue(0)  # first_mb_in_slice
    w.ue(P_SLICE)
    w.ue(params.pps_id)
    w.u(params.log2_max_frame_num, index)  # frame_num (mod MaxFrameNum)
    if params.poc_type == 0:
        w.u(params.log2_max_poc_lsb, 2 * index)  # pic_order_cnt_lsb, a frame's POC 2n
        if params.bottom_field_poc:
            w.se(0)
    if params.redundant_pic_cnt:
        w.ue(0)
    w.u(1, 1)  # num_ref_idx_active_override_flag: one reference,
    w.ue(0)  # the frame before
    w.u(1, 0)  # no ref_pic_list_modification
    if params.weighted_pred:  # pred_weight_table: default weights (the picture as it is)
        w.ue(0)
        if params.chroma:
            w.ue(0)
        w.u(1, 0)
        if params.chroma:
            w.u(1, 0)
    w.u(1, 0)  # dec_ref_pic_marking: sliding window
    if params.cabac:
        w.ue(0)  # cabac_init_idc
    w.se(0)  # slice_qp_delta
    if params.deblocking_control:
        w.ue(1)  # disable_deblocking_filter_idc (nothing to filter between skipped blocks)
    if params.cabac:
        w.align(1)  # cabac_alignment_one_bit
        rbsp = w.bytes() + skipped_cabac(params.macroblocks, params.slice_qp)
    else:
        w.ue(params.macroblocks)  # mb_skip_run: all of them
        w.u(1, 1)  # rbsp_stop_one_bit
        w.align(0)
        rbsp = w.bytes()
    return START + bytes([REF_IDC << 5 | NAL_SLICE]) + escaped(rbsp)


@lru_cache(maxsize=8)
def skipped_cabac(macroblocks: int, slice_qp: int) -> bytes:
    """The CABAC slice data of ``macroblocks`` skipped macroblocks (9.3.4: each an
    mb_skip_flag of 1 in context 11 — no neighbour is coded — and an end_of_slice_flag),
    flushed, its last bit the RBSP stop bit, aligned with zeros."""
    m, n = SKIP_CONTEXT
    pre = min(max(((m * min(max(slice_qp, 0), 51)) >> 4) + n, 1), 126)
    state, mps = (63 - pre, 0) if pre <= 63 else (pre - 64, 1)
    low, rng, first, outstanding = 0, 510, True, 0
    bits: list[int] = []

    def put(bit: int) -> None:
        nonlocal first, outstanding
        if first:
            first = False
        else:
            bits.append(bit)
        bits.extend([1 - bit] * outstanding)
        outstanding = 0

    def renorm() -> None:
        nonlocal low, rng, outstanding
        while rng < 256:
            if low < 256:
                put(0)
            elif low >= 512:
                low -= 512
                put(1)
            else:
                low -= 256
                outstanding += 1
            rng, low = rng << 1, low << 1

    for k in range(macroblocks):
        lps = RANGE_LPS[state][(rng >> 6) & 3]  # mb_skip_flag = 1
        rng -= lps
        if mps != 1:
            low, rng = low + rng, lps
            if state == 0:
                mps = 1 - mps
            state = TRANS_LPS[state]
        else:
            state = min(state + 1, 62)
        renorm()
        rng -= 2  # end_of_slice_flag (terminate)
        if k < macroblocks - 1:
            renorm()
    low += rng  # the last end_of_slice_flag is 1: flush
    rng = 2
    renorm()
    put((low >> 9) & 1)
    bits += [(low >> 8) & 1, 1]  # ((low >> 7) & 3) | 1
    bits += [0] * (-len(bits) % 8)
    return int("".join(map(str, bits)), 2).to_bytes(len(bits) // 8, "big")
