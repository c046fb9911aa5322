"""Faults a careless machine makes (issue #25, in part): renders racing into one new --out,
and a bad Dask scheduler address. Each case ends in whole files or one `error:` line."""

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attention import QKVError
from qkv.batch import scheduler_address
from qkv.output import check_out

ROOT = Path(__file__).resolve().parent.parent


def qkv(*args, cwd=ROOT):
    return subprocess.Popen([sys.executable, "-m", "qkv", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_six_renders_at_once_into_one_new_out(tmp_path):
    """Four sentences and one sentence twice, started together into an --out that does not
    exist yet: every render succeeds, every still is whole, nothing temporary is left."""
    out = tmp_path / "new" / "renders"
    sentences = ["Cats chase mice", "Dogs bark loudly", "Birds sing", "Fish swim fast",
                 "The sun rises", "The sun rises"]
    procs = [qkv("render", s, "--scene", "embeddings", "--format", "png", "--quality", "low",
                 "--out", out) for s in sentences]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert [(code, err) for code, _, err in results if code] == []
    stills = sorted(out.rglob("embeddings.png"))
    assert len(stills) == 5  # the repeated sentence renders into one folder
    for still in stills:
        with Image.open(still) as im:
            im.load()  # whole: a cut file does not decode
            assert im.size == (854, 480)
    assert not [p for p in out.rglob("*") if p.name.startswith((".rendering-", ".old-"))]


def test_a_folder_another_process_made_first_is_used_not_removed(tmp_path, monkeypatch):
    """Between seeing that --out is missing and making it, another render makes it: the
    check goes on with the folder, and leaves it to the one that made it."""
    out = tmp_path / "out"
    mkdir = Path.mkdir

    def another_was_first(self, *args, **kwargs):
        if self == out and not out.exists():
            mkdir(self)  # the other process
            (out / "theirs").mkdir()
            raise FileExistsError(17, "File exists", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", another_was_first)
    check_out(out)
    assert (out / "theirs").is_dir()


def test_a_folder_another_render_fills_while_checking_is_left_alone(tmp_path, monkeypatch):
    """This check made --out, and another render wrote into it before the check removed it
    again: the folder and the other render's file stay."""
    out = tmp_path / "a" / "out"
    real = tempfile.TemporaryFile

    def and_another_writes(*args, **kwargs):
        (out / "explainer.mp4").write_bytes(b"theirs")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", and_another_writes)
    check_out(out)
    assert (out / "explainer.mp4").read_bytes() == b"theirs"


def test_a_folder_another_check_removed_is_made_again(tmp_path, monkeypatch):
    """Another check removes the (empty) --out it made just as this one writes its probe:
    this check makes it again and succeeds (and, having made it, removes it after)."""
    out = tmp_path / "out"
    real = tempfile.TemporaryFile
    calls = []

    def removed_under_us(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            out.rmdir()
            raise FileNotFoundError(2, "No such file or directory", str(out))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", removed_under_us)
    check_out(out)
    assert len(calls) == 2 and not out.exists()


@pytest.mark.parametrize("value", ["not a url", "127.0.0.1", "tcp://127.0.0.1", "host:0",
                                   "localhost:65536", "tcp://127.0.0.1:8786/extra"])
def test_a_bad_scheduler_is_one_line_before_anything_starts(tmp_path, value):
    rows = tmp_path / "rows.txt"
    rows.write_text("Cats chase mice\n")
    out = tmp_path / "out"
    p = qkv("batch", rows, "--scheduler", value, "--out", out)
    code, err = p.wait(timeout=120), p.stderr.read()
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: --scheduler ")
    assert "tcp://HOST:PORT" in err and "Traceback" not in err
    assert not out.exists()  # refused before any row was read or any folder made


def test_scheduler_addresses_and_files(tmp_path):
    for ok in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "tls://sched.example:8786",
               "tcp://[::1]:8786", "localhost:1"):
        assert scheduler_address(ok) == ok
    file = tmp_path / "scheduler.json"
    file.write_text(json.dumps({"type": "Scheduler", "address": "tcp://127.0.0.1:40123"}))
    assert scheduler_address(str(file)) == "tcp://127.0.0.1:40123"
    file.write_text("{}")
    with pytest.raises(QKVError, match="not a Dask scheduler file"):
        scheduler_address(str(file))


@pytest.mark.parametrize("damage", ["cut short", "empty", "not a wav"])
def test_a_damaged_speech_entry_is_made_again_with_a_warning(tmp_path, capfd, damage):
    """A cached WAV cut short (a crash, a full disk), empty, or not a WAV at all is never
    used: it is made again, once, with one warning line, and the speech is the same as a
    fresh cache gives."""
    from qkv.voice import Narrator, wav_is_whole

    caption = "Softmax turns each row of scores into weights."
    fresh = Narrator(cache=tmp_path / "fresh").samples(caption)
    narrator = Narrator(cache=tmp_path / "cache")
    path = narrator.wav(caption)
    whole = path.read_bytes()
    capfd.readouterr()
    path.write_bytes({"cut short": whole[:len(whole) // 3], "empty": b"",
                      "not a wav": b"<svg/>"}[damage])
    assert not wav_is_whole(path)
    again = Narrator(cache=tmp_path / "cache").samples(caption)
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: the speech cache held a damaged")
    assert np.array_equal(again, fresh) and len(fresh) > 10_000
    assert wav_is_whole(path) and path.read_bytes() == whole


def test_qkv_cache_shows_and_clears_only_its_own_folders(tmp_path):
    """`qkv cache` lists the speech, drawn and weights caches with their sizes; `--clear`
    empties those and leaves anything else under the cache root alone."""
    import os

    root = tmp_path / "xdg"
    for sub, size in (("qkv/speech/a.wav", 3000), ("qkv/manim/Tex/b.svg", 2000),
                      ("qkv/smollm2/w.npy", 5000), ("other-app/keep.txt", 10)):
        (root / sub).parent.mkdir(parents=True, exist_ok=True)
        (root / sub).write_bytes(b"x" * size)
    env = {**os.environ, "XDG_CACHE_HOME": str(root)}

    def run(*args):
        p = subprocess.run([sys.executable, "-m", "qkv", "cache", *args], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        return {line.split("  ")[0].strip(): line for line in p.stdout.splitlines()}

    shown = run()
    assert "2.9 KB" in shown["speech"] and str(root / "qkv" / "speech") in shown["speech"]
    assert "2.0 KB" in shown["drawn formulas and texts"]
    assert "4.9 KB" in shown["smollm2 weights"] and "1 files" in shown["smollm2 weights"]
    cleared = run("--clear")
    assert all("0 B" in line for line in cleared.values())
    assert not (root / "qkv" / "speech").exists() and not (root / "qkv" / "smollm2").exists()
    assert (root / "other-app" / "keep.txt").read_bytes() == b"x" * 10


def test_a_damaged_drawn_cache_is_drawn_again_with_a_warning(tmp_path):
    """Formulas' and texts' SVGs and texts' pickles damaged in the drawn cache (emptied, cut
    short, or garbage that ends as a pickle does): the next render warns once per kind, draws
    them again, keeps whole ones in their place, and its still is the same as before; the
    render after that is quiet."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def render(name):
        p = subprocess.run([sys.executable, "-m", "qkv", "render", "Cats sleep", "--scene",
                            "scores", "--format", "png", "--quality", "low", "--out",
                            str(tmp_path / name)], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        [still] = (tmp_path / name).rglob("scores.png")
        return np.asarray(Image.open(still).convert("RGB")), [
            line for line in p.stderr.splitlines() if "warning" in line]

    before, _ = render("a")
    cache = tmp_path / "cache" / "qkv" / "manim"
    formula = sorted((cache / "Tex").glob("*.svg"))[0]
    svgs = sorted((cache / "texts").glob("*.svg"))
    pickles = sorted((cache / "texts").glob("*.pickle"))
    formula.write_bytes(b"")
    svgs[0].write_bytes(svgs[0].read_bytes()[:100])
    pickles[0].write_bytes(pickles[0].read_bytes()[:-10])
    pickles[1].write_bytes(b"not a pickle, but it ends as one does.")
    after, warnings = render("b")
    assert np.array_equal(after, before)
    assert warnings == [
        f"warning: the drawn cache held a damaged file ({formula} and 2 more); it is drawn "
        "again",
        f"warning: the drawn cache held a damaged text ({pickles[1]}); it is drawn again"]
    for damaged in (formula, svgs[0], pickles[0], pickles[1]):
        assert damaged.exists() and damaged.stat().st_size > 200
    assert render("c")[1] == []


@pytest.fixture
def small_disk(tmp_path):
    """A real file system of 64 MB (tmpfs; the project's machines run as root): room for a
    render's work folder, seeded with copies of the drawn cache (no hard links across file
    systems)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64M", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Leave the disk with no byte free (unbuffered writes until the disk says so), or only
    ``leave`` bytes."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for block in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError as err:
                assert err.errno == errno.ENOSPC
        if leave:
            os.ftruncate(fd, os.fstat(fd).st_size - leave)
    finally:
        os.close(fd)
    assert shutil.disk_usage(disk).free == leave


def test_a_full_disk_is_one_line_and_the_earlier_file_stays(small_disk):
    """A render into a full disk (Pango writes an empty SVG, Manim fails to parse it, or a
    write fails outright) ends with one `error: no space left ...` line and exit 2; the still
    rendered before, when there was room, stays as it was; nothing temporary is left."""
    out = small_disk / "renders"
    args = ("render", "Tiny disks fill quickly", "--scene", "embeddings", "--format", "png",
            "--quality", "low", "--out", out)
    first = qkv(*args)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    [still] = out.rglob("embeddings.png")
    before = still.read_bytes()
    fill(small_disk)
    again = qkv(*args[:4], "--format", "mp4", *args[6:])  # a video this time: it needs room
    code, err = again.wait(timeout=300), again.stderr.read()
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: no space left on device while writing ") and str(out) in last
    assert "Traceback" not in err
    assert still.read_bytes() == before
    assert sorted(p.name for p in still.parent.iterdir()) == ["embeddings.png"]


def test_a_new_out_on_a_full_disk_leaves_no_folder(small_disk):
    fill(small_disk)
    out = small_disk / "renders"
    p = qkv("render", "Tiny disks fill quickly", "--scene", "scores", "--quality", "low",
            "--silent", "--out", out)
    code, err = p.wait(timeout=300), p.stderr.read()
    assert code == 2 and "error: no space left on device" in err and "Traceback" not in err
    assert not out.exists()


def test_a_full_disk_where_batch_workers_render_ends_the_batch_in_one_line(small_disk,
                                                                           tmp_path):
    """The system's temporary folder (TMPDIR), where each batch row is made, is full: the
    batch stops at the first row (every later one would fail the same way) with one line
    that names the folder and the fix, exit 2; the report says which row failed. (8 KiB
    are left: Python takes a folder it cannot write a probe file in for no TMPDIR at all.)"""
    fill(small_disk, leave=8 * 1024)
    rows, out = tmp_path / "rows.txt", tmp_path / "out"
    rows.write_text("Cats chase mice\nDogs bark loudly\n")
    p = subprocess.run([sys.executable, "-m", "qkv", "batch", str(rows), "--jobs", "1",
                        "--make", "still",
                        "--scene", "embeddings", "--quality", "low", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TMPDIR": str(small_disk)})
    assert p.returncode == 2, p.stderr
    assert p.stderr.splitlines()[-1] == (
        f"error: no space left on device while writing {small_disk} (where batch workers "
        "render); free some space there, or set TMPDIR to a folder on a disk with room")
    assert "Traceback" not in p.stderr
    report = json.loads((out / "batch-report.json").read_text())
    assert [(r["row"], r["status"]) for r in report] == [(1, "failed")]
    assert not list(out.rglob("*.png"))


def test_no_space_while_writing_an_export_is_one_line(tmp_path, monkeypatch, capsys):
    """ENOSPC from any write the CLI makes (here: the export's file) is the same one line."""
    import qkv.commands.export as export
    from qkv.cli import main

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export, "write_atomically", full)
    with pytest.raises(SystemExit) as exit:
        main(["export", "Cats chase mice", "--output", str(tmp_path / "t.json")])
    assert exit.value.code == 2
    assert capsys.readouterr().err == (f"error: no space left on device while writing "
                                       f"{tmp_path / 't.json'}; free some space or pick another "
                                       "--out\n")


# -- a render killed (SIGKILL) at each moment of writing a video, then run again ------------

MOMENTS = {  # where: (the file being written when it dies, packets muxed by then, arguments)
    "drawing and encoding": (r"partial_movie_files/.*_00008\.mp4$", 5,
                             ("--scene", "scores", "--silent")),
    "joining Manim's clips": (r"480p15/scores\.mp4$", 40, ("--scene", "scores", "--silent")),
    "muxing the narration": (r"narrated-scores\.mp4$", 30, ("--scene", "scores")),
    "joining the parts": (r"\.rendering-[^/]*/explainer\.mp4$", 100,
                          ("--scene", "explainer", "--silent", "--jobs", "2")),
}


def decoded(video: Path) -> tuple[int, float]:
    """(frames, seconds of sound) decoded from the whole file: a cut file fails here."""
    import av

    with av.open(str(video)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(video)) as c:
        sound = sum(f.samples / f.sample_rate for f in c.decode(audio=0)) if c.streams.audio else 0
    return frames, sound


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_render_killed_while_writing_leaves_nothing_and_runs_again(tmp_path, moment):
    """SIGKILL in the middle of writing a video file (nothing can clean up): no file is under
    a final name, an earlier good one stays as it was; the same render run again succeeds
    with a whole file, and takes away the dead render's temporary folder."""
    pattern, after, args = MOMENTS[moment]
    out = tmp_path / "out"
    render = ("render", "Cats sleep", "--quality", "low", *args, "--out", str(out))
    name = args[1]
    earlier = None
    if moment == "muxing the narration":  # a good file from before the crash must stay
        assert subprocess.run([sys.executable, "-m", "qkv", *render], cwd=ROOT,
                              capture_output=True, timeout=300).returncode == 0
        [earlier] = out.rglob(f"{name}.mp4")
        earlier_bytes = earlier.read_bytes()
    killed = subprocess.run([sys.executable, "-m", "tests.killer", pattern, str(after),
                             *render], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr  # died at that moment (3: never reached it)
    [folder] = out.iterdir()
    left = sorted(p.name for p in folder.iterdir())
    if earlier is None:
        assert [n for n in left if not n.startswith(".rendering-")] == []
    else:
        assert earlier.read_bytes() == earlier_bytes
    assert [n for n in left if n.startswith(".rendering-")]  # what the crash left behind

    again = subprocess.run([sys.executable, "-m", "qkv", *render], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    frames, sound = decoded(folder / f"{name}.mp4")
    assert frames > 100 and (sound > 5 if "--silent" not in args else sound == 0)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_no_space_from_a_worker_process_is_the_same_one_line():
    """A NoSpace raised in a --jobs worker reaches the parent pickled: the same line."""
    import pickle

    from qkv.output import NoSpace

    err = NoSpace("/full/disk", "free some space there")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is NoSpace and str(again) == str(err) == (
        "no space left on device while writing /full/disk; free some space there")


def test_a_render_folder_is_swept_only_when_its_owner_is_gone(tmp_path):
    """Another process's work folder (a container's pid means nothing here: its name says a
    pid that is no process here) is left while that process holds its lock, and swept once
    the process is gone."""
    from qkv.output import sweep_dead

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, pathlib\nfrom qkv.output import work_folder\n"
         "w = work_folder(pathlib.Path(sys.argv[1]))\n"
         "w.rename(w.with_name('.rendering-999999999-x'))\n"
         "print('ready', flush=True)\nsys.stdin.read()", str(tmp_path)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        sweep_dead(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == [".rendering-999999999-x"]
    finally:
        holder.kill()
        holder.wait()
    sweep_dead(tmp_path)
    assert list(tmp_path.iterdir()) == []
