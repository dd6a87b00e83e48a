"""Build ``simulator/sample.mp4``: a tiny, genuinely decodable H.264 MP4.

No encoder is needed: the one key frame uses I_PCM macroblocks (raw samples), and the
following frames are P slices in which every macroblock is skipped, so the clip is a
still picture that plays for two seconds. The file stays well under 20 KB.

Run ``python tests/simulator/make_sample_mp4.py`` to regenerate the committed sample;
``test_sim_sample_mp4.py`` checks that the committed file is exactly what this builds.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 128, 72  # 16:9; coded as 8 x 5 macroblocks and cropped to 72 rows
FPS = 10
FRAMES = 20
TIMESCALE = 1000
SAMPLE_PATH = Path(__file__).resolve().parents[2] / "simulator" / "sample.mp4"


class BitWriter:
    """Big-endian bit writer with the Exp-Golomb codes H.264 headers use."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits.extend((value >> (n - 1 - i)) & 1 for i in range(n))

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self.bits) % 8:
            self.bits.append(0)

    def raw(self, data: bytes) -> None:
        assert len(self.bits) % 8 == 0
        for byte in data:
            self.u(8, byte)

    def trailing(self) -> bytes:
        self.bits.append(1)
        self.align_zero()
        out = bytearray()
        for i in range(0, len(self.bits), 8):
            byte = 0
            for bit in self.bits[i : i + 8]:
                byte = (byte << 1) | bit
            out.append(byte)
        return bytes(out)


def nal(nal_ref_idc: int, nal_type: int, rbsp: bytes) -> bytes:
    """Wrap an RBSP into a NAL unit, inserting emulation-prevention bytes."""
    out = bytearray([(nal_ref_idc << 5) | nal_type])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


MB_COLS = WIDTH // 16
MB_ROWS = -(-HEIGHT // 16)
CODED_HEIGHT = MB_ROWS * 16


def sps() -> bytes:
    w = BitWriter()
    w.u(8, 66)  # profile_idc: Baseline
    w.u(8, 0xC0)  # constraint_set0 + constraint_set1: Constrained Baseline
    w.u(8, 30)  # level_idc 3.0
    w.ue(0)  # seq_parameter_set_id
    w.ue(4)  # log2_max_frame_num_minus4 -> 8-bit frame_num
    w.ue(2)  # pic_order_cnt_type 2: output order = decoding order
    w.ue(1)  # max_num_ref_frames
    w.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    w.ue(MB_COLS - 1)
    w.ue(MB_ROWS - 1)
    w.u(1, 1)  # frame_mbs_only_flag
    w.u(1, 1)  # direct_8x8_inference_flag
    crop_bottom = (CODED_HEIGHT - HEIGHT) // 2
    w.u(1, 1 if crop_bottom else 0)
    if crop_bottom:
        w.ue(0)
        w.ue(0)
        w.ue(0)
        w.ue(crop_bottom)
    w.u(1, 0)  # vui_parameters_present_flag
    return nal(3, 7, w.trailing())


def pps() -> bytes:
    w = BitWriter()
    w.ue(0)  # pic_parameter_set_id
    w.ue(0)  # seq_parameter_set_id
    w.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    w.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    w.ue(0)  # num_slice_groups_minus1
    w.ue(0)  # num_ref_idx_l0_default_active_minus1
    w.ue(0)  # num_ref_idx_l1_default_active_minus1
    w.u(1, 0)  # weighted_pred_flag
    w.u(2, 0)  # weighted_bipred_idc
    w.se(0)  # pic_init_qp_minus26
    w.se(0)  # pic_init_qs_minus26
    w.se(0)  # chroma_qp_index_offset
    w.u(1, 1)  # deblocking_filter_control_present_flag
    w.u(1, 0)  # constrained_intra_pred_flag
    w.u(1, 0)  # redundant_pic_cnt_present_flag
    return nal(3, 8, w.trailing())


def picture() -> tuple[list[int], list[int], list[int]]:
    """Draw the still frame and return limited-range BT.601 Y, Cb, Cr planes."""
    img = Image.new("RGB", (WIDTH, CODED_HEIGHT), (32, 24, 64))
    draw = ImageDraw.Draw(img)
    for i, colour in enumerate([(220, 60, 60), (60, 200, 90), (70, 110, 230), (240, 200, 40)]):
        draw.rectangle((i * 32, 52, i * 32 + 31, HEIGHT - 1), fill=colour)
    font = ImageFont.load_default(size=22)
    draw.text((WIDTH // 2, 24), "SIM", fill=(255, 255, 255), font=font, anchor="mm")
    raw = img.tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]

    def clamp(v: float) -> int:
        return max(1, min(254, round(v)))

    ys, cbs, crs = [], [], []
    for r, g, b in pixels:
        ys.append(clamp(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255))
        cbs.append(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255)
        crs.append(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255)
    cw, ch = WIDTH // 2, CODED_HEIGHT // 2
    cb_plane, cr_plane = [], []
    for cy in range(ch):
        for cx in range(cw):
            idx = [(2 * cy + dy) * WIDTH + 2 * cx + dx for dy in (0, 1) for dx in (0, 1)]
            cb_plane.append(clamp(sum(cbs[i] for i in idx) / 4))
            cr_plane.append(clamp(sum(crs[i] for i in idx) / 4))
    return ys, cb_plane, cr_plane


def idr_slice() -> bytes:
    ys, cbs, crs = picture()
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(7)  # slice_type: I (all slices)
    w.ue(0)  # pic_parameter_set_id
    w.u(8, 0)  # frame_num
    w.ue(0)  # idr_pic_id
    w.u(1, 0)  # no_output_of_prior_pics_flag
    w.u(1, 0)  # long_term_reference_flag
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc
    cw = WIDTH // 2
    for mby in range(MB_ROWS):
        for mbx in range(MB_COLS):
            w.ue(25)  # mb_type I_PCM
            w.align_zero()  # pcm_alignment_zero_bit
            luma = bytes(
                ys[(mby * 16 + y) * WIDTH + mbx * 16 + x] for y in range(16) for x in range(16)
            )
            w.raw(luma)
            for plane in (cbs, crs):
                w.raw(
                    bytes(
                        plane[(mby * 8 + y) * cw + mbx * 8 + x] for y in range(8) for x in range(8)
                    )
                )
    return nal(3, 5, w.trailing())


def skip_slice(frame_num: int) -> bytes:
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(5)  # slice_type: P (all slices)
    w.ue(0)  # pic_parameter_set_id
    w.u(8, frame_num)
    w.u(1, 0)  # num_ref_idx_active_override_flag
    w.u(1, 0)  # ref_pic_list_modification_flag_l0
    w.u(1, 0)  # adaptive_ref_pic_marking_mode_flag
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc
    w.ue(MB_COLS * MB_ROWS)  # mb_skip_run: every macroblock copies the reference
    return nal(2, 1, w.trailing())


def box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def build() -> bytes:
    """Return the complete MP4 file: ftyp, moov (fast-start) and mdat."""
    sps_nal, pps_nal = sps(), pps()
    samples = [idr_slice()] + [skip_slice(i) for i in range(1, FRAMES)]
    sample_data = [struct.pack(">I", len(s)) + s for s in samples]
    delta = TIMESCALE // FPS
    duration = delta * FRAMES

    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    avcc = box(
        b"avcC",
        bytes([1, 66, 0xC0, 30, 0xFF, 0xE1]),
        struct.pack(">H", len(sps_nal)),
        sps_nal,
        b"\x01",
        struct.pack(">H", len(pps_nal)),
        pps_nal,
    )
    avc1 = box(
        b"avc1",
        b"\x00" * 6,
        struct.pack(">H", 1),  # data_reference_index
        b"\x00" * 16,
        struct.pack(">HH", WIDTH, HEIGHT),
        struct.pack(">II", 0x480000, 0x480000),
        b"\x00" * 4,
        struct.pack(">H", 1),  # frame_count
        bytes([9]) + b"Simulator".ljust(31, b"\x00"),
        struct.pack(">Hh", 0x18, -1),
        avcc,
    )

    def moov(chunk_offset: int) -> bytes:
        stbl = box(
            b"stbl",
            full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
            full_box(b"stts", 0, 0, struct.pack(">III", 1, FRAMES, delta)),
            full_box(b"stss", 0, 0, struct.pack(">II", 1, 1)),
            full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, FRAMES, 1)),
            full_box(
                b"stsz",
                0,
                0,
                struct.pack(">II", 0, FRAMES),
                b"".join(struct.pack(">I", len(s)) for s in sample_data),
            ),
            full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )
        minf = box(
            b"minf",
            full_box(b"vmhd", 0, 1, b"\x00" * 8),
            box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1))),
            stbl,
        )
        mdia = box(
            b"mdia",
            full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, duration, 0x55C4, 0)),
            full_box(b"hdlr", 0, 0, b"\x00" * 4, b"vide", b"\x00" * 12, b"VideoHandler\x00"),
            minf,
        )
        tkhd = full_box(
            b"tkhd",
            0,
            3,
            struct.pack(">IIIII", 0, 0, 1, 0, duration),
            b"\x00" * 8,
            struct.pack(">hhhH", 0, 0, 0, 0),
            MATRIX,
            struct.pack(">II", WIDTH << 16, HEIGHT << 16),
        )
        mvhd = full_box(
            b"mvhd",
            0,
            0,
            struct.pack(">IIII", 0, 0, TIMESCALE, duration),
            struct.pack(">IH", 0x10000, 0x100),
            b"\x00" * 10,
            MATRIX,
            b"\x00" * 24,
            struct.pack(">I", 2),
        )
        return box(b"moov", mvhd, box(b"trak", tkhd, mdia))

    head = len(ftyp) + len(moov(0))
    return ftyp + moov(head + 8) + box(b"mdat", *sample_data)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_PATH
    target.write_bytes(build())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
