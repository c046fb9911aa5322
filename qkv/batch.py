"""``qkv batch FILE``: many sentences in one command, resumable, on local processes or on a
Dask cluster.

Every row is checked first (the checks of ``qkv render``). Each good row becomes a
:class:`Job`; a job runs in a worker (a local process or a Dask worker), which renders into a
private temporary folder and hands back the files' bytes; the client alone writes them into
``--out``, each atomically, then a marker ``.qkv-batch/<key>.json`` that says the row is done.
So a batch killed half-way leaves only whole files, a second run skips what is done, and a
worker that dies mid-row loses nothing: its task runs again elsewhere and is written once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from attention import MATH_OPTIONS, AttentionConfig, QKVError, compute_config
from qkv.options import BATCH, RENDER_OPTIONS, RenderOptions, check_options, option, options_of
from qkv.output import NoSpace, out_of_space, output_folder, write_atomically
from qkv.registry import FIGURE_FORMATS

MAKES = ("video", "still", "deck", "worksheet")
MARKERS = ".qkv-batch"  # inside --out: one marker per finished row
REPORT = "batch-report"


class BatchFileError(QKVError):
    """The file itself cannot be used (exit status 2)."""


@dataclass(frozen=True)
class Job:
    """One row, checked: everything a worker needs to make its files (a local process or a
    Dask worker is sent this, pickled)."""

    line: int  # in the file, from 1 (a CSV's header is line 1)
    sentence: str
    math: dict = field(default_factory=dict)  # AttentionConfig's fields given
    # How: the row's render options (its cells over the command line's). With make=still the
    # format is png; the worker renders into its own folder, whatever ``out`` says.
    options: RenderOptions = RenderOptions()
    make: str = option("video", "What each row makes: a video, a still (png), an HTML deck, a "
                       "PDF worksheet.", choices=MAKES, commands=(BATCH,), column=True)

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def key(self) -> str:
        """Same inputs, same key (the line, --out and --verbose do not count): what makes a
        row done."""
        spec = {"sentence": self.sentence, "math": self.math, **self.columns()}
        text = json.dumps(spec, sort_keys=True, ensure_ascii=False)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()

    def columns(self) -> dict:
        """The row's value of every column but the sentence and the math options."""
        return {**{o.name: getattr(self.options, o.field) for o in RENDER_COLUMNS},
                **{o.name: getattr(self, o.field) for o in JOB_COLUMNS}}


# A row's columns besides the sentence and the math options: the options declared with
# column=True, RenderOptions' (scene, quality, format, ...) and the Job's own (make).
RENDER_COLUMNS = tuple(o for o in RENDER_OPTIONS if o.column)
JOB_COLUMNS = tuple(o for o in options_of(Job) if o.column)
COLUMNS = RENDER_COLUMNS + JOB_COLUMNS


@dataclass
class Result:
    """What happened to one row, as the report shows it."""

    line: int
    sentence: str
    status: str  # done, skipped or failed
    outputs: list[str] = field(default_factory=list)
    error: str = ""
    wall: float = 0.0


# -- reading the file ---------------------------------------------------------------------------

def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line, {column: text}) for every row of a .csv (a 'sentence' column, any option as a
    column), .txt (a sentence a line) or .jsonl file (an object a line)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BatchFileError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as err:
        raise BatchFileError(f"cannot read {path}: {err.strerror or err}") from None
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        return [(k, {"sentence": line.strip()}) for k, line in enumerate(text.splitlines(), 1)
                if line.strip()]
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for k, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise BatchFileError(f"{path}, line {k}: not JSON ({err.msg}); write one "
                                     'object a line, e.g. {"sentence": "The cat sat"}') from None
            if not isinstance(row, dict):
                raise BatchFileError(f"{path}, line {k}: not a JSON object; write one object "
                                     'a line, e.g. {"sentence": "The cat sat"}')
            rows.append((k, {str(c): v for c, v in row.items()}))
        return _checked_columns(path, rows)
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames or "sentence" not in reader.fieldnames:
            raise BatchFileError(f"{path} has no 'sentence' column; its first line must name "
                                 "the columns, e.g. sentence,scene,quality")
        rows = []
        while True:
            start = reader.line_num + 1  # where the row begins (a quoted cell may span lines)
            row = next(reader, None)
            if row is None:
                break
            rows.append((start, {c: v for c, v in row.items() if c is not None}))
        return _checked_columns(path, rows)
    raise BatchFileError(f"{path}: use a .csv, .txt (a sentence a line) or .jsonl file")


def _checked_columns(path, rows):
    known = {"sentence", *(o.name for o in COLUMNS), *(o.name for o in MATH_OPTIONS)}
    for line, row in rows:
        unknown = sorted(set(row) - known)
        if unknown:
            raise BatchFileError(f"{path}, line {line}: unknown column {unknown[0]!r}; columns "
                                 f"are {', '.join(sorted(known))}")
    return rows


# -- checking the rows --------------------------------------------------------------------------

def _text(value) -> str | None:
    """A cell as text; None when empty (then the command line's value applies)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    return text or None


def make_job(line: int, row: dict, defaults: Job) -> tuple[Job, object]:
    """The row (its cells override ``defaults``, the command line's values) as a checked Job,
    and its trace; QKVError with the reason if ``qkv render`` would refuse it."""
    from qkv.fonts import check_drawable
    from scenes.stages import refusal

    cells = {k: _text(v) for k, v in row.items()}
    sentence = row.get("sentence")
    if not isinstance(sentence, str) or not sentence.strip():
        raise QKVError("the sentence is empty; write one in the row's sentence column")
    math = dict(defaults.math)
    for o in MATH_OPTIONS:
        if cells.get(o.name) is not None:
            math[o.name] = o.parse(cells[o.name], o.name)
    given = [{o.field: o.parse(cells[o.name], o.name) for o in columns
              if cells.get(o.name) is not None} for columns in (RENDER_COLUMNS, JOB_COLUMNS)]
    # checked as they are made (RenderOptions' and Job's __post_init__)
    job = replace(defaults, line=line, sentence=sentence, math=math,
                  options=replace(defaults.options, **given[0]), **given[1])
    if job.make == "still" and job.options.fmt not in FIGURE_FORMATS:
        job = replace(job, options=replace(job.options, fmt="png"))
    trace = compute_config(sentence, AttentionConfig(**math))
    check_drawable(trace)
    if job.make in ("video", "still"):
        why = refusal(job.options.scene, trace.config)
        if why:
            raise QKVError(why)
        job.options.check_voice()
    elif job.make == "deck":
        why = refusal("explainer", trace.config)
        if why:
            raise QKVError(why.replace("--scene explainer", "a deck"))
        if not job.options.silent:  # a deck speaks (whatever the row's format) unless silent
            from qkv.voice import voice_model

            voice_model()
    elif trace.model is not None:
        raise QKVError(f"worksheets are not built for --model {trace.config.model} yet")
    return job, trace


def worker_options(job: Job, root: Path) -> RenderOptions:
    """The render options a worker renders ``job`` with: the row's, into its own ``root``."""
    options = replace(job.options, out=root)
    return replace(options, scene="explainer") if job.make == "deck" else options


# -- making one row's files (in a worker) -----------------------------------------------------

def run_job(job: Job) -> dict:
    """Make a row's files in a private temporary folder; return {"files": {relative path:
    bytes}, "error": one line or "", "wall": seconds}. Runs in a local process or on a Dask
    worker: it writes nothing the client can see."""
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="qkv-batch-") as tmp:
            root = Path(tmp)
            paths = _make(job, root)
            files = {str(p.relative_to(root)): p.read_bytes() for p in paths if p.is_file()}
        return {"files": files, "error": "", "wall": time.perf_counter() - start}
    except Exception as err:
        full = worker_out_of_space(err)
        if full is not None:  # every later row would fail the same way: the batch ends
            return {"files": {}, "error": str(full), "full": True,
                    "wall": time.perf_counter() - start}
        # a QKVError is one line already; anything else is a bug or a broken install: the
        # row fails, the batch goes on
        error = str(err) if isinstance(err, QKVError) else f"{type(err).__name__}: {err}"
    return {"files": {}, "error": error.splitlines()[0] if error else "failed",
            "wall": time.perf_counter() - start}


def worker_out_of_space(err: BaseException) -> NoSpace | None:
    """The one-line error for a full disk while a worker makes a row: in the folder where it
    renders (the system's temporary folder: TMPDIR), or elsewhere (a cache: that path); None
    when ``err`` is something else."""
    where = Path(tempfile.gettempdir())
    full = err if isinstance(err, NoSpace) else out_of_space(err, where)
    if full is None:
        return None
    written = Path(full.path)
    if written.is_absolute() and not written.resolve().is_relative_to(where.resolve()):
        return full  # not the temporary folder's disk: say which
    return NoSpace(f"{where} (where batch workers render)",
                   "free some space there, or set TMPDIR to a folder on a disk with room")


def _make(job: Job, root: Path) -> list[Path]:
    trace = compute_config(job.sentence, AttentionConfig(**job.math))
    options = worker_options(job, root)
    if job.make in ("video", "still"):
        from qkv.render import render_scene

        return render_scene(trace, options)
    if job.make == "deck":
        from qkv.slides import check_reveal, render_deck

        check_reveal(options.theme)
        return render_deck(trace, options, to="html", one_file=True)
    from attention.worksheet import to_pdf

    path = output_folder(trace, root) / "worksheet.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_pdf(trace))
    return [path]


def _local_init(verbose: bool) -> None:
    from qkv.pool import _worker_init

    _worker_init(verbose)


# -- the client ---------------------------------------------------------------------------------

def marker(out: Path, job: Job) -> Path:
    return Path(out) / MARKERS / f"{job.key}.json"


def done_before(out: Path, job: Job) -> list[str] | None:
    """The outputs of an earlier run with the same inputs, if they are all still there."""
    try:
        outputs = json.loads(marker(out, job).read_text(encoding="utf-8"))["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return outputs if all((Path(out) / p).is_file() for p in outputs) else None


def save(out: Path, job: Job, files: dict[str, bytes]) -> list[str]:
    """Write a finished row's files into ``out`` (each atomically), then its marker."""
    for rel, data in files.items():
        path = Path(out) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    outputs = sorted(files)
    marker(out, job).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(marker(out, job), json.dumps({"line": job.line, "sentence": job.sentence,
                                                   "outputs": outputs}) + "\n")
    return outputs


def write_report(out: Path, results: list[Result]) -> list[Path]:
    """batch-report.csv and .json in ``out``: a row per line of the file, in its order."""
    rows = [{"row": r.line, "sentence": r.sentence, "status": r.status,
             "outputs": r.outputs, "error": r.error, "wall_s": round(r.wall, 2)}
            for r in sorted(results, key=lambda r: r.line)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["row"],
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "outputs": ";".join(row["outputs"])})
    paths = [Path(out) / f"{REPORT}.csv", Path(out) / f"{REPORT}.json"]
    write_atomically(paths[0], buf.getvalue())
    write_atomically(paths[1], json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return paths


@dataclass
class Batch:
    """A checked batch: the jobs to run, the rows refused, the rows already done."""

    todo: list[Job]
    results: list[Result]  # failed (refused) and skipped rows, so far


def plan(path: Path, defaults: Job, out: Path, force: bool, strict: bool) -> Batch:
    rows = read_rows(path)
    if not rows:
        raise BatchFileError(f"{path} has no rows; write a sentence a line")
    todo, results, seen, refused = [], [], {}, []
    for line, row in rows:
        sentence = str(row.get("sentence") or "")
        try:
            job, _ = make_job(line, row, defaults)
        except QKVError as err:
            refused.append(f"line {line}: {err}")
            results.append(Result(line, sentence, "failed", error=str(err)))
            continue
        if job.key in seen:
            results.append(Result(line, sentence, "skipped",
                                  error=f"the same as line {seen[job.key]}"))
            continue
        seen[job.key] = line
        earlier = None if force else done_before(out, job)
        if earlier is not None:
            results.append(Result(line, sentence, "skipped", outputs=earlier))
        else:
            todo.append(job)
    if strict and refused:
        raise BatchFileError("; ".join(refused) + " (--strict: nothing was rendered)")
    return Batch(todo, results)


def run_local(todo: list[Job], jobs: int, verbose: bool):
    """Yield (job, result dict) as local processes finish them."""
    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            yield job, run_job(job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context,
                               initializer=_local_init, initargs=(verbose,))
    try:
        futures = {pool.submit(run_job, job): job for job in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


SCHEDULER_ADDRESS = re.compile(r"(?:(?:tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)"
                               r":(\d{1,5})")
SCHEDULER_HELP = ("use tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786), HOST:PORT, or the JSON file "
                  "'dask scheduler --scheduler-file' wrote")


def scheduler_address(value: str) -> str:
    """The Dask scheduler's address from what --scheduler says: ``tcp://host:port``,
    ``tls://host:port``, ``host:port``, or a scheduler file (its ``address``); QKVError in
    one line otherwise, before anything starts."""
    text = str(value).strip()
    if Path(text).is_file():
        try:
            address = json.loads(Path(text).read_text(encoding="utf-8"))["address"]
        except (OSError, ValueError, KeyError, TypeError):
            raise QKVError(f"--scheduler {text!r} is a file but not a Dask scheduler file (no "
                           f"'address' in its JSON); {SCHEDULER_HELP}") from None
        return scheduler_address(address)
    m = SCHEDULER_ADDRESS.fullmatch(text)
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise QKVError(f"--scheduler {text!r} is not a scheduler address; {SCHEDULER_HELP}")
    return text


def run_dask(todo: list[Job], scheduler: str):
    """Yield (job, result dict) as the Dask cluster at ``scheduler`` finishes them. A task's
    key is its row's key: the scheduler runs it again if its worker dies, never twice."""
    from qkv.cluster import connect  # (one line when Dask is missing or unreachable)

    client = connect(scheduler)
    from distributed import as_completed

    try:
        futures = {client.submit(run_job, job, key=f"qkv-row-{job.key}", pure=False): job
                   for job in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()


def run_batch(path: Path, defaults: Job, out: Path, *, jobs: int = 1,
              scheduler: str | None = None, force: bool = False, strict: bool = False,
              verbose: bool = False, on_row=None,
              batch: Batch | None = None) -> tuple[list[Result], list[Path]]:
    """Check every row (unless ``batch``, the :func:`plan` already made), run what is not
    done yet, write the report; return the results (a row each, in file order) and the
    report's paths. ``on_row(result)`` after each row run."""
    if scheduler is not None:
        scheduler = scheduler_address(scheduler)  # a bad one is refused before any row
    batch = batch or plan(path, defaults, out, force, strict)
    results = list(batch.results)
    Path(out).mkdir(parents=True, exist_ok=True)
    runner = run_dask(batch.todo, scheduler) if scheduler else run_local(batch.todo, jobs,
                                                                           verbose)
    try:
        for job, outcome in runner:
            if outcome["error"]:
                result = Result(job.line, job.sentence, "failed", error=outcome["error"],
                                wall=outcome["wall"])
                if outcome.get("full"):  # the report says which row; the run ends in one line
                    results.append(result)
                    raise QKVError(outcome["error"])
            else:
                result = Result(job.line, job.sentence, "done",
                                outputs=save(out, job, outcome["files"]), wall=outcome["wall"])
            results.append(result)
            if on_row:
                on_row(result)
    finally:  # an interrupted batch still says what it did
        runner.close()  # its pool or Dask client stopped now, not when it is collected
        reported = write_report(out, results)
    return sorted(results, key=lambda r: r.line), reported
