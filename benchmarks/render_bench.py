"""Render benchmark: wall time, video length and real-time factor (wall / length).

    .venv/bin/python benchmarks/render_bench.py            # low and high quality (slow)
    .venv/bin/python benchmarks/render_bench.py --quick    # low quality only

Each row renders the explainer for one sentence through the real CLI (`python -m scenes render`,
one process, as a user would), then a floor row renders an empty scene of the same length and
quality (what Manim and encoding cost with nothing to draw), and a last pair renders every
scene (`--scene all`) with --jobs 1 and with --jobs 2. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = {
    3: "Cats chase mice",
    6: "The cat sat on the mat",
    12: "The quick brown fox jumps over the lazy dog near the river",
    16: "A small child quietly read an old book about brave knights while rain fell outside "
        "tonight",
}
MANIM_QUALITY = {"low": "-ql", "high": "-qh"}


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def video_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration) / av.time_base


def render(sentence: str, quality: str, out: Path, *extra: str) -> tuple[float, list[Path]]:
    wall = timed([sys.executable, "-m", "scenes", "render", sentence, "--quality", quality,
                  "--out", str(out), *extra])
    return wall, sorted(out.rglob("*.mp4"))


def floor(seconds: float, quality: str, out: Path) -> float:
    env = {**os.environ, "QKV_FLOOR_SECONDS": f"{seconds:.3f}"}
    return timed([sys.executable, "-m", "manim", "render", MANIM_QUALITY[quality], "-v",
                  "ERROR", "--media_dir", str(out), "--disable_caching",
                  str(ROOT / "benchmarks" / "floor_scene.py"), "FloorScene"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="low quality only")
    args = parser.parse_args()
    qualities = ["low"] if args.quick else ["low", "high"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print()
    print("| what | tokens | quality | wall (s) | video (s) | real-time factor |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for quality in qualities:
            lengths = {}
            for n, sentence in SENTENCES.items():
                wall, movies = render(sentence, quality, tmp / f"{quality}-{n}", "--scene",
                                      "explainer")
                length = video_seconds(movies[0])
                lengths[n] = (wall, length)
                print(f"| explainer | {n} | {quality} | {wall:.1f} | {length:.1f} | "
                      f"{wall / length:.2f} |", flush=True)
            wall6, length6 = lengths[6]
            fw = floor(length6, quality, tmp / f"floor-{quality}")
            print(f"| floor: empty scene | 0 | {quality} | {fw:.1f} | {length6:.1f} | "
                  f"{fw / length6:.2f} |", flush=True)
            print(f"| 16 tokens / 6 tokens | | {quality} | "
                  f"{lengths[16][0] / wall6:.2f}x | | |", flush=True)
        for jobs in (1, 2):
            wall, movies = render(SENTENCES[6], "low", tmp / f"jobs-{jobs}", "--scene", "all",
                                  "--jobs", str(jobs))
            total = sum(video_seconds(m) for m in movies)
            print(f"| all 6 scenes, --jobs {jobs} | 6 | low | {wall:.1f} | {total:.1f} | "
                  f"{wall / total:.2f} |", flush=True)


if __name__ == "__main__":
    main()
