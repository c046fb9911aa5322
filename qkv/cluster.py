"""One render spread over a Dask cluster (``qkv render --scheduler ADDRESS``): the same tasks
as ``--jobs`` (:func:`qkv.pool.plan`: the mp4 explainer in parts, other scenes whole), each
drawn on a worker in a private temporary folder and sent back as bytes; the parts are joined
here, by the same code as ``--jobs``, so the video has the very packets one process writes,
and the explainer's narration is laid here (a whole scene comes narrated from its worker).
Workers need qkv installed as here, the voice too: a narrated scene's beats are timed to its
speech wherever it is drawn.

A worker that dies mid-task has its task run again on another (Dask's own retry: the task's
key names the part); a task that fails is one ``error:`` line, and nothing is written under a
final name. Caches live on each worker (its own ``~/.cache/qkv``). Manim keeps its settings in
one global object, so a worker process draws one task at a time (a lock): start workers with
``dask worker ADDRESS --nthreads 1 --nworkers N``.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path

from attention import AttentionTrace, QKVError
from qkv.options import RenderOptions

_ONE_AT_A_TIME = threading.Lock()  # per worker process: Manim's config is global
WORKERS_WAIT = 30  # seconds a render waits for a cluster's first worker


def connect(scheduler: str):
    """A Dask client of the scheduler at ``scheduler`` (already checked by
    qkv.batch.scheduler_address), or one ``error:`` line."""
    try:
        from distributed import Client
    except ImportError:
        raise QKVError("--scheduler needs Dask: pip install 'qkv[cluster]' (dask and "
                       "distributed)") from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise QKVError(f"cannot reach the Dask scheduler at {scheduler} ({err}); start one "
                       f"with 'dask scheduler' and workers with 'dask worker {scheduler} "
                       "--nthreads 1'") from None
    except (TypeError, ValueError) as err:  # tls:// without Dask's TLS settings
        raise QKVError(f"cannot connect to the Dask scheduler at {scheduler} ({err}); a "
                       "tls:// address needs Dask's distributed.comm.tls settings") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_WAIT)
    except (OSError, TimeoutError):
        client.close()
        raise QKVError(f"the Dask scheduler at {scheduler} has no workers (none came in "
                       f"{WORKERS_WAIT} s); start some with 'dask worker {scheduler} "
                       "--nthreads 1'") from None
    return client


def remote_task(trace: AttentionTrace, options: RenderOptions) -> dict:
    """On a worker: draw a scene, or a part of the explainer, in a private temporary folder;
    return its files' bytes (and a part's cues and length). Nothing stays on the worker."""
    from qkv.parts import render_part
    from qkv.render import render_scene

    with _ONE_AT_A_TIME, tempfile.TemporaryDirectory(prefix="qkv-remote-") as tmp:
        mine = replace(options, out=Path(tmp))
        if options.part is None:
            paths = render_scene(trace, mine)
            return {"files": [(p.name, p.read_bytes()) for p in paths]}
        piece = render_part(trace, mine)
        return {"video": (piece.video.name, piece.video.read_bytes()),
                "cues": piece.cues, "length": piece.length,
                "sections": [(name, clip.name, clip.read_bytes())
                             for name, clip in piece.sections]}


def received_piece(trace: AttentionTrace, options: RenderOptions, sent: dict):
    """A part's files, written into a temporary folder of its own beside the final files, as
    a Piece for :func:`qkv.parts.join_parts` (which removes the folder)."""
    from qkv.output import output_folder, remove_work, work_folder
    from qkv.parts import Piece

    folder = output_folder(trace, options.out)
    folder.mkdir(parents=True, exist_ok=True)
    work = work_folder(folder)
    name, data = sent["video"]
    clips = work / "sections"
    try:
        (work / name).write_bytes(data)
        clips.mkdir()
        for _, clip, data in sent["sections"]:
            (clips / clip).write_bytes(data)
    except BaseException:
        remove_work(work)
        raise
    return Piece(work, work / name, tuple(sent["cues"]), sent["length"],
                 tuple((section, clips / clip) for section, clip, _ in sent["sections"]))


def received_scene(trace: AttentionTrace, options: RenderOptions, sent: dict) -> list[Path]:
    """A whole scene's files, renamed into place when all are written."""
    from qkv.output import staging

    with staging(trace, options.out) as stage:
        for name, data in sent["files"]:
            (stage.work / name).write_bytes(data)
            stage.pairs.append((stage.work / name, stage.folder / name))
    return stage.written


def workers(client) -> int:
    """How many tasks the cluster draws at once: its worker processes (one task each)."""
    return max(1, len(client.scheduler_info().get("workers", {})))


def render_on_cluster(trace: AttentionTrace, options: RenderOptions, scenes: list[str],
                      scheduler: str, on_done=None) -> list[Path]:
    """Render ``scenes`` on the Dask cluster at ``scheduler``; return every path written, in
    the order of ``scenes``."""
    from distributed import as_completed

    from qkv.output import remove_work
    from qkv.parts import Finished
    from qkv.pool import plan

    client = connect(scheduler)
    finished = None
    try:
        tasks = plan(trace, options, scenes, workers(client))
        finished = Finished(trace, tasks)
        run = uuid.uuid4().hex[:12]  # a task's key: its part, in this render
        futures = {client.submit(remote_task, trace, task, pure=False,
                                 key=f"qkv-{task.scene}-{'+'.join(task.part or ())}-{run}"):
                   task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                sent = future.result()
            except QKVError:
                raise
            except Exception as err:  # a worker died too often, or a bug on a worker
                raise QKVError(f"the Dask cluster could not render {task.scene}"
                               f"{' part ' + ', '.join(task.part) if task.part else ''}: "
                               f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                               .rstrip(": ")) from None
            received = (received_scene if task.part is None else received_piece)(trace, task,
                                                                                   sent)
            if finished.add(task, received) and on_done:
                on_done(task.scene)
    except BaseException:
        for piece in finished.pieces.values() if finished else ():
            remove_work(piece.work)  # parts received but not joined
        raise
    finally:
        client.close()
    return finished.written(scenes)
