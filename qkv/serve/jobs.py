"""The page's jobs: each a ``qkv render``, ``qkv slides`` or ``qkv export --format pdf``
process writing into a folder of its own, ``<out>/<job id>/``, started in its own process
group (so a cancel stops the render and every process it started: its workers, the
narrator). ``--jobs`` of them run at once; a few more wait; past that a request is refused
as busy, and no process is started for it.

The commands stage their files and rename them into place only when complete, so a job's
folder only ever holds whole files. A cancelled job's folder is removed; a failed job keeps
the whole files it made (none under the name of a file it did not finish) and its one-line
error. Each job is written down in ``job.json`` beside its files, so a restarted server lists
the earlier results."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from qkv.soundtrack import SOUND_FORMATS
from qkv.serve.explore import MATH_NAMES, Refused, argv, one_line, parse, trace_of

GRACE = 5.0  # seconds a cancelled process has to clean up after SIGTERM, before SIGKILL
WAITING = 4  # jobs that may wait beside those running; more is "busy"
RECORD = "job.json"
KEPT = ("id", "kind", "label", "sentence", "command", "state", "error", "created", "started",
        "finished", "files")  # what job.json holds

# What each button makes: the command, and the page's fields it takes beside the math.
KINDS = {
    "video": ("render", ("scene", "quality", "fmt", "silent", "burn_captions", "theme")),
    "explainer": ("render", ("quality", "fmt", "silent", "burn_captions", "theme")),
    "deck": ("slides", ("to", "quality", "silent", "theme")),
    "worksheet": ("export", ()),
}
FINISHED = ("done", "failed", "cancelled")


def _label(kind: str, ctx) -> str:
    p = ctx.params
    if kind == "worksheet":
        return "worksheet (pdf)"
    if kind == "deck":
        return f"deck ({p['to']}) · {p['quality']} · {'silent' if p['silent'] else 'narrated'}"
    sound = "silent" if p["silent"] or p["fmt"] not in SOUND_FORMATS else "narrated"
    burned = " · captions burned in" if p["burn_captions"] else ""
    return f"{p['scene']} · {p['quality']} · {p['fmt']} · {sound}{burned}"


@dataclass
class Job:
    id: str
    kind: str
    label: str
    sentence: str
    command: list[str]  # after ``python -m qkv``
    folder: Path
    state: str = "queued"  # running, done, failed, cancelled
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    files: list[str] = field(default_factory=list)  # paths inside the folder
    animations: int = 0  # animations drawn so far (Manim's partial movie files)
    phase: str = ""  # the last line the process printed
    process: subprocess.Popen | None = None
    cancel_at: float | None = None  # when a cancel was asked for

    def record(self) -> dict:
        return {k: getattr(self, k) for k in KEPT}

    def save(self) -> None:
        """job.json, written whole (a temporary file renamed)."""
        tmp = self.folder / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(self.record(), indent=1, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, self.folder / RECORD)


def listing(folder: Path) -> list[str]:
    """The whole files in a job's folder: none hidden (the commands' temporary folders, the
    process's log) and not job.json."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts) \
                and rel.as_posix() != RECORD:
            found.append(rel.as_posix())
    return found


def clean(folder: Path) -> None:
    """Remove what a stopped process left: the commands' hidden temporary folders and
    files (whole files stay)."""
    for path in folder.rglob(".*"):
        if path.name in (".stdout", ".stderr") or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _kill(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # its own group: the id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


class Jobs:
    """The queue. ``slots`` jobs run at once; ``waiting`` more may wait."""

    def __init__(self, out: Path, slots: int = 1, waiting: int = WAITING, python=None):
        self.out = Path(out).resolve()
        self.slots, self.waiting_limit = slots, waiting
        self.python = python or [sys.executable, "-m", "qkv"]
        self.jobs: dict[str, Job] = {}
        self.waiting: deque[Job] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.started_processes = 0  # how many processes were ever started (tests)
        self.out.mkdir(parents=True, exist_ok=True)
        self._load()
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"qkv-job-{i}")
                        for i in range(slots)]
        for t in self.threads:
            t.start()

    # -- earlier results --------------------------------------------------------------
    def _load(self) -> None:
        """The jobs an earlier server left in ``out``: finished ones as they were; one that
        was queued or running when it stopped is failed, its temporary files removed."""
        for record in sorted(self.out.glob(f"*/{RECORD}")):
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
                job = Job(**{k: data[k] for k in KEPT}, folder=record.parent)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not one of ours, or damaged: left alone, not listed
            if job.id != record.parent.name:
                continue
            if job.state not in FINISHED:
                job.state = "failed"
                job.error = one_line("the server stopped before this job finished")
                clean(job.folder)
            job.files = listing(job.folder)
            job.save()
            self.jobs[job.id] = job

    # -- asking ----------------------------------------------------------------------
    def check(self, fields: dict) -> tuple[str, str, list[str]]:
        """The page's fields for a job read as the CLI reads them: (kind, label, command
        without the output). Refused with the CLI's line if the command would refuse them
        before drawing anything."""
        from qkv.options import OPTION, RenderOptions
        from scenes.stages import refusal

        if not isinstance(fields, dict):
            raise Refused(one_line("the request must be a JSON object of fields"))
        fields = dict(fields)
        kind = fields.pop("kind", None)
        if kind not in KINDS:
            raise Refused(one_line(f"kind must be one of {', '.join(KINDS)} (got {kind!r})"),
                          "kind")
        command, media = KINDS[kind]
        args = argv(fields, command, (*MATH_NAMES, *media))
        options, sentence = args[:-2], args[-2:]
        if kind == "explainer":
            options += ["--scene", "explainer"]
        if command == "render":
            options += ["--jobs", "1"]  # one process a job: --jobs of serve is jobs at once
        elif command == "export":
            options += ["--format", "pdf", "--output", "worksheet.pdf"]
        elif fields.get("to", "html") == "html":
            options += ["--one-file"]  # one file to download: the videos inside the page
        ctx = parse(command, [*options, *sentence])
        trace = trace_of(ctx)
        if command == "render":
            values = {k: v for k, v in ctx.params.items() if k in OPTION}
            try:
                RenderOptions(**values)
            except Exception as err:  # QKVError: the line render would print
                raise Refused(one_line(str(err))) from None
            why = refusal(ctx.params["scene"], trace.config)
            if why:
                raise Refused(one_line(why), "scene")
        elif command == "slides":
            why = refusal("explainer", trace.config)
            if why:
                raise Refused(one_line(why.replace("--scene explainer", "a deck")))
        return kind, _label(kind, ctx), [command, *options, *sentence]

    def submit(self, fields: dict) -> Job:
        kind, label, command = self.check(fields)
        with self.cond:
            if self.closed:
                raise Refused(one_line("the server is stopping"), status=503)
            active = sum(j.state == "running" for j in self.jobs.values()) + len(self.waiting)
            if active >= self.slots + self.waiting_limit:
                raise Refused(one_line(f"busy: {active} jobs are running or waiting; try "
                                       "again when one has finished"), status=503)
            job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            folder = self.out / job_id
            folder.mkdir()
            where = (["--output", str(folder / "worksheet.pdf")] if command[0] == "export"
                     else ["--out", str(folder)])
            if command[0] == "export":  # the placeholder --output checked above
                i = command.index("--output")
                command = command[:i] + command[i + 2:]
            dash = command.index("--")
            job = Job(job_id, kind, label, command[-1],
                      [*command[:dash], *where, *command[dash:]], folder)
            job.save()
            self.jobs[job_id] = job
            self.waiting.append(job)
            self.cond.notify()
        return job

    def cancel(self, job_id: str) -> Job:
        with self.cond:
            job = self.jobs.get(job_id)
            if job is None:
                raise Refused(one_line(f"no job {job_id!r}"), status=404)
            if job.state in FINISHED:
                raise Refused(one_line(f"job {job_id} has {job.state}: nothing to cancel"),
                              status=409)
            if job.state == "queued":
                self.waiting.remove(job)
                self._cancelled(job)
            elif job.cancel_at is None:
                job.cancel_at = time.monotonic()
                job.phase = "cancelling"
                _kill(job.process, signal.SIGTERM)  # qkv removes its temporary files
        return job

    def _cancelled(self, job: Job) -> None:
        job.state, job.finished, job.files = "cancelled", time.time(), []
        shutil.rmtree(job.folder, ignore_errors=True)

    def position(self, job: Job) -> int | None:
        """1 for the next job to start; None if not waiting."""
        try:
            return list(self.waiting).index(job) + 1
        except ValueError:
            return None

    def listed(self) -> list[Job]:
        with self.cond:
            return sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)

    # -- running ---------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.waiting and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                job = self.waiting.popleft()
                job.state, job.started = "running", time.time()
                try:
                    job.process = self._start(job)
                except OSError as err:
                    job.state, job.error = "failed", one_line(f"could not start qkv: {err}")
                    job.finished = time.time()
                    job.save()
                    continue
            self._watch(job)

    def _start(self, job: Job) -> subprocess.Popen:
        with open(job.folder / ".stdout", "wb") as out, \
                open(job.folder / ".stderr", "wb") as err:
            process = subprocess.Popen(
                [*self.python, *job.command], stdin=subprocess.DEVNULL, stdout=out,
                stderr=err, cwd=job.folder, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1",
                     "QKV_DIE_WITH_PARENT": "1"})  # a killed server leaves no render behind
        self.started_processes += 1
        return process

    def _watch(self, job: Job) -> None:
        process = job.process
        counted = 0.0
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if job.cancel_at is not None and time.monotonic() - job.cancel_at > GRACE:
                _kill(process, signal.SIGKILL)
            if time.monotonic() - counted > 1.0:
                counted = time.monotonic()
                self._progress(job)
        _kill(process, signal.SIGKILL)  # anything of its group still there
        with self.cond:
            job.finished, job.process = time.time(), None
            if job.cancel_at is not None:
                self._cancelled(job)
                return
            if code == 0:
                job.state = "done"
            else:
                job.state, job.error = "failed", self._error(job, code)
                clean(job.folder)
            job.files = listing(job.folder)
            job.phase = ""
            job.save()

    def _progress(self, job: Job) -> None:
        try:
            job.animations = sum(1 for _ in job.folder.rglob("partial_movie_files/*/*.mp4"))
            lines = (job.folder / ".stderr").read_text(errors="replace").splitlines()
        except OSError:
            return
        lines = [line.strip() for line in lines if line.strip()]
        if lines and job.cancel_at is None:
            job.phase = lines[-1][:200]

    def _error(self, job: Job, code: int) -> str:
        try:
            text = (job.folder / ".stderr").read_text(errors="replace")
        except OSError:
            text = ""
        said = [line for line in text.splitlines() if line.startswith("error:")]
        if said:
            return said[-1]
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            return one_line(f"the qkv {job.command[0]} process was stopped ({name}); no file "
                            "was written")
        return one_line(f"qkv {job.command[0]} ended with exit status {code}")

    def close(self) -> None:
        """Stop: the waiting jobs are dropped, the running ones cancelled (their processes
        stopped and their folders removed)."""
        with self.cond:
            self.closed = True
            for job in list(self.waiting):
                self._cancelled(job)
            self.waiting.clear()
            running = [j for j in self.jobs.values() if j.state == "running"]
            for job in running:
                if job.process is not None and job.cancel_at is None:
                    job.cancel_at = time.monotonic()
                    _kill(job.process, signal.SIGTERM)
            self.cond.notify_all()
        for t in self.threads:
            t.join(timeout=GRACE + 2)
