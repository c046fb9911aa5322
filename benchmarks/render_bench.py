"""Render benchmark: wall time, video length and real-time factor (wall / length).

    .venv/bin/python benchmarks/render_bench.py            # low and high quality (~40 min)
    .venv/bin/python benchmarks/render_bench.py --full     # and high --jobs 1 for all (~1 h)
    .venv/bin/python benchmarks/render_bench.py --quick    # low quality only
    .venv/bin/python benchmarks/render_bench.py --narration --quick   # narration table only
    .venv/bin/python benchmarks/render_bench.py --targets   # the rows speed is judged by (~15 min)
    .venv/bin/python benchmarks/render_bench.py --targets --repeat 3   # 480p15 rows: quickest of 3
    .venv/bin/python benchmarks/render_bench.py --smollm2   # the GPT's rows only (~4 min)

Each sentence's explainer is rendered through the real CLI (`python -m qkv render`, as a
user would) with --jobs 1 (one process) and --jobs 2 (drawn in two parts, joined), at each
quality (at high quality --jobs 1 only for the default sentence, unless --full). A floor
row renders an empty scene as long as the default sentence's explainer, at
the same quality (what Manim and encoding cost with nothing to draw), and a last pair renders
every scene (`--scene all`) with --jobs 1 and --jobs 2; all of those --silent. A last table
renders the default explainer silent, narrated with an empty speech cache, and narrated with
the speech cached. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
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


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def video_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration) / av.time_base


def render(sentence: str, quality: str, out: Path, *extra: str,
           env: dict | None = None) -> tuple[float, list[Path]]:
    wall = timed([sys.executable, "-m", "qkv", "render", sentence, "--quality", quality,
                  "--out", str(out), *extra], env)
    return wall, sorted(out.rglob("*.mp4"))


def narration_rows(tmp: Path, qualities) -> None:
    """The default explainer silent, then narrated with an empty speech cache (every caption
    synthesised), then narrated again (every caption from the cache)."""
    print()
    print("| explainer, default sentence | quality | --jobs | wall (s) | video (s) | RTF |")
    print("|---|---|---|---|---|---|")
    cache = {**os.environ, "XDG_CACHE_HOME": str(tmp / "speech-cache")}
    for quality in qualities:
        jobs = "1" if quality == "low" else "2"
        for what, extra in (("--silent", ["--silent"]), ("narrated, empty cache", []),
                            ("narrated, cached speech", [])):
            if what == "narrated, empty cache":
                shutil.rmtree(tmp / "speech-cache", ignore_errors=True)
            wall, movies = render(SENTENCES[6], quality, tmp / f"voice-{quality}-{what[:6]}",
                                  "--scene", "explainer", "--jobs", jobs, *extra, env=cache)
            length = video_seconds(movies[0])
            print(f"| {what} | {quality} | {jobs} | {wall:.1f} | {length:.1f} | "
                  f"{wall / length:.2f} |", flush=True)


def floor(seconds: float, quality: str, out: Path, env: dict | None = None) -> float:
    return timed([sys.executable, str(ROOT / "benchmarks" / "floor_scene.py"), quality, str(out),
                  f"{seconds:.3f}"], env=env)


def target_rows(tmp: Path, repeat: int = 1) -> None:
    """The rows the speed targets are judged by, in one run: the default explainer at 480p15
    and 1080p60 with --jobs 1 and 2, 16 tokens at 480p15 with --jobs 1 and 2, the 1080p60
    floor. With ``repeat``, the four 480p15 rows are rendered that many times, in rounds (one
    of each row per round, so a slow spell of the machine reaches every row alike), and each
    row reports its quickest wall (the one least disturbed) and its slowest."""
    print()
    print("| what | quality | --jobs | wall (s) | video (s) | RTF |" +
          (" slowest of the repeats (s) |" if repeat > 1 else ""))
    print("|---|---|---|---|---|---|" + ("---|" if repeat > 1 else ""))
    low = [(6, "low", 1), (16, "low", 1), (6, "low", 2), (16, "low", 2)]
    runs: dict[tuple[int, str, int], list[float]] = {row: [] for row in low}
    lengths = {}
    for k in range(repeat):
        for n, quality, jobs in low:
            wall, movies = render(SENTENCES[n], quality, tmp / f"t-{n}-{quality}-{jobs}-{k}",
                                  "--scene", "explainer", "--jobs", str(jobs), "--silent")
            runs[n, quality, jobs].append(wall)
            lengths[n, quality, jobs] = video_seconds(movies[0])
    walls = {row: min(w) for row, w in runs.items()}

    def row(what: str, quality: str, jobs: int, wall: float, length: float, slowest: str):
        print(f"| {what} | {quality} | {jobs} | {wall:.1f} | {length:.1f} | "
              f"{wall / length:.2f} |" + (f" {slowest} |" if repeat > 1 else ""), flush=True)

    for (n, quality, jobs), wall in walls.items():
        row(f"explainer, {n} tokens", quality, jobs, wall, lengths[n, quality, jobs],
            f"{max(runs[n, quality, jobs]):.1f}")
    for n, quality, jobs in ((6, "high", 2), (6, "high", 1)):
        wall, movies = render(SENTENCES[n], quality, tmp / f"t-{n}-{quality}-{jobs}", "--scene",
                              "explainer", "--jobs", str(jobs), "--silent")
        length = video_seconds(movies[0])
        walls[n, quality, jobs] = wall
        lengths[n, quality, jobs] = length
        row(f"explainer, {n} tokens", quality, jobs, wall, length, "once")
    length = lengths[6, "high", 1]
    # the empty scene is one still hold: qkv's writer encodes its first frame only (the
    # repeats are written: engine/h264.py), so the floor the issue meant (every frame through
    # the encoder) is the row with QKV_HOLDS=encode
    walls["floor"] = floor(length, "high", tmp / "floor-high",
                           env={**os.environ, "QKV_HOLDS": "encode"})
    row("floor: empty scene, qkv's writer, every frame encoded", "high", 1, walls["floor"],
        length, "once")
    walls["floor-held"] = floor(length, "high", tmp / "floor-held")
    row("floor: empty scene, qkv's writer (a hold: one frame encoded)", "high", 1,
        walls["floor-held"], length, "once")
    walls["floor-manim"] = floor(length, "high", tmp / "floor-manim",
                                 env={**os.environ, "QKV_X264": "manim"})
    row("floor: empty scene, Manim's writer", "high", 1, walls["floor-manim"], length, "once")
    wall, movies = render(SENTENCES[6], "high", tmp / "t-narrated", "--scene", "explainer",
                          "--jobs", "2")  # narrated: the speech cache warm after a first run
    row("explainer, 6 tokens, narrated", "high", 2, wall, video_seconds(movies[0]), "once")
    wall, movies = render(SENTENCES[6], "4k", tmp / "t-4k", "--scene", "explainer", "--jobs",
                          "2", "--silent")
    walls["4k"], lengths["4k"] = wall, video_seconds(movies[0])
    row("explainer, 6 tokens", "4k (2160p60)", 2, wall, lengths["4k"], "once")
    print()
    for jobs in (1, 2):
        print(f"low, --jobs {jobs}: 16 tokens / 6 tokens = "
              f"{walls[16, 'low', jobs] / walls[6, 'low', jobs]:.2f}x (target <= 1.3x)")
    for quality in ("low", "high"):
        print(f"{quality}, 6 tokens: --jobs 1 / --jobs 2 = "
              f"{walls[6, quality, 1] / walls[6, quality, 2]:.2f}x"
              + (" (target >= 1.4x)" if quality == "high" else ""))
    print(f"high, 6 tokens, --jobs 1: explainer / floor (every frame encoded) = "
          f"{walls[6, 'high', 1] / walls['floor']:.2f}x (target <= 1.5x); "
          f"/ floor (a hold) = {walls[6, 'high', 1] / walls['floor-held']:.1f}x")
    print(f"floor: Manim's writer / qkv's = {walls['floor-manim'] / walls['floor']:.2f}x")
    print(f"4k --jobs 2: RTF {walls['4k'] / lengths['4k']:.2f} (target <= 0.8); "
          f"{walls['4k'] / walls[6, 'high', 2]:.2f}x the 1080p60 --jobs 2 wall")


GPT_SENTENCES = {6: "The cat sat on the",  # with [start]: 6 model tokens
                 16: "The quick brown fox jumps over the lazy dog and then it runs back home"}


def smollm2_rows(tmp: Path) -> None:
    """--model smollm2: `qkv export` from a cold process (the weights' cache warm, as after
    the first run), and its explainer at 480p15, silent, with --jobs 1 and 2."""
    print()
    print("| --model smollm2 | tokens | --jobs | wall (s) | video (s) | RTF |")
    print("|---|---|---|---|---|---|")
    for n, sentence in GPT_SENTENCES.items():
        wall = timed([sys.executable, "-m", "qkv", "export", sentence, "--model", "smollm2",
                      "--output", str(tmp / f"gpt-{n}.json")])
        print(f"| export (json), cold process | {n} | – | {wall:.1f} | – | – |", flush=True)
    for n, sentence in GPT_SENTENCES.items():
        for jobs in (1, 2):
            wall, movies = render(sentence, "low", tmp / f"gpt-{n}-{jobs}", "--model", "smollm2",
                                  "--scene", "explainer", "--jobs", str(jobs), "--silent")
            length = video_seconds(movies[0])
            print(f"| explainer, low | {n} | {jobs} | {wall:.1f} | {length:.1f} | "
                  f"{wall / length:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="low quality only")
    parser.add_argument("--narration", action="store_true",
                        help="only the narration table (silent, empty cache, cached speech)")
    parser.add_argument("--full", action="store_true",
                        help="also high quality --jobs 1 for every sentence (+20 min)")
    parser.add_argument("--targets", action="store_true",
                        help="only the rows the speed targets are judged by (~12 min)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="with --targets: the 480p15 rows N times each, the quickest kept "
                             "(~2 min more per repeat)")
    parser.add_argument("--smollm2", action="store_true",
                        help="only the --model smollm2 rows (export, explainer at 480p15)")
    args = parser.parse_args()
    qualities = ["low"] if args.quick else ["low", "high"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    if args.targets:
        with tempfile.TemporaryDirectory() as tmp:
            target_rows(Path(tmp), args.repeat)
        return
    if args.smollm2:
        with tempfile.TemporaryDirectory() as tmp:
            smollm2_rows(Path(tmp))
        return
    if args.narration:
        with tempfile.TemporaryDirectory() as tmp:
            narration_rows(Path(tmp), qualities)
        return
    print()
    head = "".join(f" {q} --jobs {j} wall (s) | RTF |" for q in qualities for j in (1, 2))
    print("Every render below is --silent except the narration table at the end.")
    print()
    print(f"| explainer | tokens | video (s) |{head}")
    print("|---|---|---|" + "---|---|" * 2 * len(qualities))
    walls: dict[tuple[int, str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n, sentence in SENTENCES.items():
            cells, length = [], 0.0
            for quality in qualities:
                for jobs in (1, 2):
                    if quality == "high" and jobs == 1 and n != 6 and not args.full:
                        cells.append(" – | – |")  # one process at 1080p60: default only
                        continue
                    wall, movies = render(sentence, quality, tmp / f"{n}-{quality}-{jobs}",
                                          "--scene", "explainer", "--jobs", str(jobs),
                                          "--silent")
                    length = video_seconds(movies[0])
                    walls[n, quality, jobs] = wall
                    cells.append(f" {wall:.1f} | {wall / length:.2f} |")
            name = "default sentence" if n == 6 else sentence[:24] + "..."
            print(f"| {name} | {n} | {length:.1f} |{''.join(cells)}", flush=True)
        length6 = video_seconds(sorted((tmp / "6-low-1").rglob("explainer.mp4"))[0])
        print()
        print("| what | quality | wall (s) | video (s) | RTF |")
        print("|---|---|---|---|---|")
        for quality in qualities:
            fw = floor(length6, quality, tmp / f"floor-{quality}")
            print(f"| floor: empty scene (a hold) | {quality} | {fw:.1f} | {length6:.1f} | "
                  f"{fw / length6:.2f} |", flush=True)
        for jobs in (1, 2):
            wall, movies = render(SENTENCES[6], "low", tmp / f"all-{jobs}", "--scene", "all",
                                  "--jobs", str(jobs), "--silent")
            total = sum(video_seconds(m) for m in movies if "-" not in m.stem)
            print(f"| all 6 scenes, --jobs {jobs} | low | {wall:.1f} | {total:.1f} | "
                  f"{wall / total:.2f} |", flush=True)
        print()
        for quality in qualities:
            for jobs in (1, 2):
                if (16, quality, jobs) in walls:
                    print(f"{quality}, --jobs {jobs}: 16 tokens / 6 tokens = "
                          f"{walls[16, quality, jobs] / walls[6, quality, jobs]:.2f}x")
            print(f"{quality}, 6 tokens: --jobs 1 / --jobs 2 = "
                  f"{walls[6, quality, 1] / walls[6, quality, 2]:.2f}x")
        narration_rows(tmp, qualities)
        smollm2_rows(tmp)


if __name__ == "__main__":
    main()
