"""Batch benchmark: rows per minute for 20 short sentences at 480p15, in one run, with one
process, with --jobs 2, and on a local Dask cluster of 2 workers (started here).

    .venv/bin/python benchmarks/batch_bench.py                    # the embeddings scene
    .venv/bin/python benchmarks/batch_bench.py --scene explainer  # the whole video (slow)

Each mode renders the same rows into a fresh folder through the real CLI (`python -m qkv
batch`, as a user would). Prints a Markdown table and the machine.
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

SENTENCES = [
    "The cat sat on the mat", "Dogs bark at night", "Birds sing in spring",
    "A fox jumps high", "Rain falls softly", "She reads a book", "We walk to school",
    "The sun is warm", "Fish swim fast", "He plays the drum", "Snow covers the hill",
    "Bees make honey", "The train is late", "Kids love games", "Wind moves the trees",
    "Tea is hot", "The moon rises", "Cows eat grass", "A boat sails away", "Stars shine",
]


def batch(rows: Path, out: Path, scene: str, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qkv", "batch", str(rows), "--scene", scene,
                    "--quality", "low", "--out", str(out), *extra], check=True,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="embeddings")
    args = parser.parse_args()
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        rows = Path(tmp) / "rows.txt"
        rows.write_text("\n".join(SENTENCES) + "\n")
        results = [("1 process (--jobs 1)", batch(rows, Path(tmp) / "a", args.scene,
                                                  "--jobs", "1")),
                   ("2 processes (--jobs 2)", batch(rows, Path(tmp) / "b", args.scene,
                                                    "--jobs", "2"))]
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            results.append(("Dask LocalCluster, 2 workers",
                            batch(rows, Path(tmp) / "c", args.scene, "--scheduler",
                                  cluster.scheduler_address)))
    print(f"{len(SENTENCES)} rows, --scene {args.scene}, 480p15; {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| mode | wall (s) | rows per minute | vs 1 process |")
    print("|---|---|---|---|")
    base = results[0][1]
    for name, wall in results:
        print(f"| {name} | {wall:.1f} | {len(SENTENCES) / wall * 60:.1f} | "
              f"{base / wall:.2f}x |")


if __name__ == "__main__":
    main()
