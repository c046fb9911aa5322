"""Encoder settings for qkv's videos: wall time, file size and picture quality (SSIM against
Manim's own settings, frame by frame) for a few libx264 settings.

    .venv/bin/python benchmarks/encoder_bench.py                    # 1080p60 (~15 min)
    .venv/bin/python benchmarks/encoder_bench.py --quality low      # 480p15

Each setting renders the same scenes (silent, one process, through the real CLI, with
QKV_X264 set: see engine/writer.py) and an empty scene as long as them (the floor). "manim" is
Manim 0.21's own writer (crf 23, preset medium, every frame of a hold converted again).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from render_bench import timed, video_seconds  # noqa: E402

from tests.ssim import luma_frames, ssim  # noqa: E402

SETTINGS = {
    "manim": "manim",
    "crf 23, medium, animation, holds once": "crf=23,preset=medium,tune=animation",
    "crf 23, veryfast, animation, holds once": "crf=23,preset=veryfast,tune=animation",
    "crf 23, ultrafast, holds once": "crf=23,preset=ultrafast",
}
SCENES = ("scores", "softmax")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", default="high", choices=["low", "medium", "high"])
    parser.add_argument("--every", type=int, default=20, help="compare every Nth frame")
    parser.add_argument("--setting", action="append", metavar="X264_OPTIONS",
                        help="instead of the built-in list: e.g. crf=23,preset=superfast "
                             "(repeatable; Manim's own writer is always the first row)")
    args = parser.parse_args()
    settings = SETTINGS if not args.setting else {
        "manim": "manim", **{f"{s.replace(',', ', ')}, holds once": s for s in args.setting}}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; quality {args.quality}; scenes {', '.join(SCENES)}")
    print()
    print("| setting | scenes wall (s) | RTF | floor wall (s) | floor RTF | size (MB) "
          "| size / manim | SSIM min | SSIM mean |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = None
        for name, value in settings.items():
            env = {**os.environ, "QKV_X264": value}
            out = tmp / f"setting-{len(list(tmp.iterdir()))}"
            cmd = [sys.executable, "-m", "qkv", "render", "--silent", "--jobs", "1",
                   "--quality", args.quality, "--out", str(out)]
            wall = sum(timed([*cmd, "--scene", s], env) for s in SCENES)
            videos = [next(out.rglob(f"{s}.mp4")) for s in SCENES]
            length = sum(video_seconds(v) for v in videos)
            size = sum(v.stat().st_size for v in videos) / 1e6
            floor = timed([sys.executable, str(ROOT / "benchmarks" / "floor_scene.py"),
                         args.quality, str(out / "floor"), f"{length:.2f}"], env)
            if base is None:
                base = (videos, size)
                scores = [1.0]
            else:
                scores = [ssim(a, b) for va, vb in zip(base[0], videos)
                          for a, b in zip(luma_frames(va, args.every),
                                          luma_frames(vb, args.every))]
            print(f"| {name} | {wall:.1f} | {wall / length:.2f} | {floor:.1f} | "
                  f"{floor / length:.2f} | {size:.2f} | {size / base[1]:.2f} | "
                  f"{min(scores):.4f} | {sum(scores) / len(scores):.4f} |", flush=True)


if __name__ == "__main__":
    main()
