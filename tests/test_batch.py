"""qkv batch: rows checked first, bad ones reported and the rest made; resumable after a kill;
the same files from local processes and from a Dask cluster, even when a worker dies."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qkv.batch import BatchFileError, Job, read_rows, run_batch
from qkv.options import RenderOptions

QKV = [sys.executable, "-m", "qkv"]
# Stills of the cheapest scene at 480p: a row costs a few seconds.
CHEAP = ("--make", "still", "--scene", "embeddings", "--quality", "low")
ROWS = """sentence,scene,heads,causal
The cat sat on the mat,,,
Dogs bark loudly,heads,3,1
,,,
Birds sing,heads,,
"""


def run(*args, **kw):
    return subprocess.run([*QKV, *args], capture_output=True, text=True, **kw)


def report(out: Path) -> list[dict]:
    return json.loads((out / "batch-report.json").read_text())


def files(out: Path) -> dict[str, bytes]:
    """Every output file (not the markers or the report) by its path inside ``out``."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".qkv-batch" not in p.parts and not p.name.startswith("batch-")}


@pytest.mark.xdist_group("batch")
def test_a_bad_row_is_reported_and_the_rest_are_made(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROWS)
    out = tmp_path / "out"
    p = run("batch", str(rows), *CHEAP, "--jobs", "2", "--out", str(out))
    assert p.returncode == 1, p.stderr  # some rows failed
    assert p.stderr.splitlines() == [
        "line 4: failed: the sentence is empty; write one in the row's sentence column",
        "line 5: failed: --scene heads shows an option that is off; add --heads 3",
        f"2 done, 0 skipped, 2 failed; report: {out / 'batch-report.csv'}"]
    got = report(out)
    assert [(r["row"], r["sentence"], r["status"]) for r in got] == [
        (2, "The cat sat on the mat", "done"), (3, "Dogs bark loudly", "done"),
        (4, "", "failed"), (5, "Birds sing", "failed")]
    assert got[1]["outputs"][0].endswith("/heads.png")  # the row's own scene
    assert sorted(files(out)) == sorted(o for r in got for o in r["outputs"])
    assert all(r["wall_s"] > 0 for r in got[:2])
    csv_lines = (out / "batch-report.csv").read_text().splitlines()
    assert csv_lines[0] == "row,sentence,status,outputs,error,wall_s" and len(csv_lines) == 5
    # again: everything done is skipped, nothing is made (the files' times set long ago by
    # hand: a file written again, or replaced, would show it however soon)
    long_ago = 1_000_000_000_000_000_000  # 2001-09-09, in ns
    for name in files(out):
        os.utime(out / name, ns=(long_ago, long_ago))
    before = {p: ((out / p).stat().st_mtime_ns, (out / p).stat().st_ino) for p in files(out)}
    p = run("batch", str(rows), *CHEAP, "--out", str(out))
    assert p.returncode == 1 and "0 done, 2 skipped, 2 failed" in p.stderr
    assert {p: ((out / p).stat().st_mtime_ns, (out / p).stat().st_ino)
            for p in files(out)} == before
    assert {mtime for mtime, _ in before.values()} == {long_ago}
    # --strict refuses the whole file, and makes nothing
    strict = tmp_path / "strict"
    p = run("batch", str(rows), *CHEAP, "--strict", "--out", str(strict))
    assert p.returncode == 2 and p.stderr.startswith("error: line 4: the sentence is empty")
    assert p.stderr.count("\n") == 1
    assert not strict.exists() or files(strict) == {}


# `qkv batch` with its second row held until the test stops it (with --jobs 1 the rows run one
# after the other in this process): the first row is made and saved before the second starts,
# and the second writes the file named first on the command line when it starts.
HOLD_THE_SECOND_ROW = """
import sys, time
from pathlib import Path

import qkv.batch

run_job, started = qkv.batch.run_job, Path(sys.argv[1])


def held(job):
    if job.line == 2:
        started.write_text("the second row started")
        while True:
            time.sleep(1)
    return run_job(job)


qkv.batch.run_job = held
from qkv.cli import main
main(sys.argv[2:])
"""


@pytest.mark.xdist_group("batch")
def test_a_killed_batch_resumes_with_only_what_is_left(tmp_path):
    rows = tmp_path / "rows.txt"
    rows.write_text("One cat\nTwo dogs\nThree birds\n\nFour fish\n")
    out, started = tmp_path / "out", tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_THE_SECOND_ROW, str(started), "batch",
                             str(rows), *CHEAP, "--jobs", "1", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not started.exists():
        time.sleep(0.1)
    assert started.exists(), proc.stderr.read() if proc.poll() is not None else "timed out"
    proc.send_signal(signal.SIGTERM)  # the first row done and saved, the second under way
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted; no file was written"
    first = report(out)  # an interrupted batch still says what it did: the first row
    assert [(r["row"], r["status"]) for r in first] == [(1, "done")]
    assert len(list((out / ".qkv-batch").iterdir())) == 1  # its marker, and only its
    leftovers = [p for p in out.rglob("*") if p.is_file() and (p.name.startswith(".")
                                                              or ".tmp" in p.name)]
    assert leftovers == []  # no half-written file
    made = files(out)
    assert sorted(made) == sorted(first[0]["outputs"])
    p = run("batch", str(rows), *CHEAP, "--out", str(out))
    assert p.returncode == 0, p.stderr
    again = report(out)
    assert [(r["row"], r["status"]) for r in again] == [(1, "skipped"), (2, "done"),
                                                       (3, "done"), (5, "done")]
    assert all(files(out)[k] == v for k, v in made.items())
    # --force makes every row again
    p = run("batch", str(rows), *CHEAP, "--force", "--out", str(out))
    assert p.returncode == 0 and "4 done, 0 skipped, 0 failed" in p.stderr


@pytest.mark.xdist_group("batch")
def test_a_dask_cluster_makes_the_same_files_even_when_a_worker_dies(tmp_path):
    """A LocalCluster of 2 worker processes started here; one worker is killed while it makes
    a row: its row runs again on the other (or the restarted) worker and is written once."""
    import distributed  # (the test extra installs it: this must not skip)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"sentence": "The cat sat on the mat"}, {"sentence": "Dogs bark", "causal": True},
        {"sentence": "Birds sing", "scene": "softmax"}, {"sentence": "Fish swim"}]) + "\n")
    defaults = Job(0, "", make="still", options=RenderOptions(scene="embeddings", quality="low"))
    local = tmp_path / "local"
    run_batch(rows, defaults, local, jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        done = {}

        def batch():
            done["results"], _ = run_batch(rows, defaults, tmp_path / "dask",
                                           scheduler=cluster.scheduler_address)
        thread = threading.Thread(target=batch)
        thread.start()
        pids = client.run(os.getpid)  # worker address -> process id
        killed = None
        deadline = time.time() + 120
        while killed is None and time.time() < deadline:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                killed = busy[0]
                os.kill(pids[killed], signal.SIGKILL)
            time.sleep(0.05)
        thread.join(timeout=300)
    assert killed is not None
    results = done["results"]
    assert [(r.line, r.status) for r in results] == [(1, "done"), (2, "done"), (3, "done"),
                                                    (4, "done")]
    assert len(report(tmp_path / "dask")) == 4  # each row once
    assert files(tmp_path / "dask") == files(local)  # byte for byte


def test_unusable_files_are_one_line_and_exit_2(tmp_path):
    cases = {
        "no-sentence.csv": ("text,scene\nhi,softmax\n", "has no 'sentence' column"),
        "odd-column.csv": ("sentence,colour\nhi,red\n", "unknown column 'colour'"),
        "rows.xlsx": ("x", "use a .csv, .txt (a sentence a line) or .jsonl file"),
        "broken.jsonl": ('{"sentence": "hi"}\n{oops\n', "broken.jsonl, line 2: not JSON"),
        "empty.txt": ("\n\n", "has no rows"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        p = run("batch", str(path), "--out", str(tmp_path / "out"))
        assert p.returncode == 2 and p.stderr.startswith("error: ") and message in p.stderr, \
            (name, p.stderr)
        assert p.stderr.count("\n") == 1
    p = run("batch", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out"))
    assert p.returncode == 2 and "cannot read" in p.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    rows = tmp_path / "rows.txt"
    rows.write_text("The cat sat\n")
    p = run("batch", str(rows), *CHEAP, "--scheduler", "tcp://127.0.0.1:9",
            "--out", str(tmp_path / "out"))
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert p.stderr.count("\n") == 1


def test_rows_from_every_kind_of_file(tmp_path):
    (tmp_path / "a.txt").write_text("  The cat  \n\nDogs bark\n")
    assert read_rows(tmp_path / "a.txt") == [(1, {"sentence": "The cat"}),
                                             (3, {"sentence": "Dogs bark"})]
    (tmp_path / "b.jsonl").write_text('{"sentence": "Hi", "heads": 2}\n\n{"sentence": "Yo"}\n')
    assert read_rows(tmp_path / "b.jsonl") == [(1, {"sentence": "Hi", "heads": 2}),
                                               (3, {"sentence": "Yo"})]
    (tmp_path / "c.csv").write_text('sentence,quality\n"Hello, world",low\n"Two\nlines",\n')
    assert read_rows(tmp_path / "c.csv") == [(2, {"sentence": "Hello, world", "quality": "low"}),
                                             (3, {"sentence": "Two\nlines", "quality": ""})]
    with pytest.raises(BatchFileError, match="not a JSON object"):
        (tmp_path / "d.jsonl").write_text('["Hi"]\n')
        read_rows(tmp_path / "d.jsonl")
