"""Several renders at once: ``jobs`` processes (spawned, so each has a fresh Manim), the
scenes of ``--scene all`` side by side and the mp4 explainer in parts (:mod:`qkv.parts`).
An interrupt reaches every worker; each removes its own temporary folder, and the parent
sweeps what is left.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from attention import AttentionTrace
from qkv.output import render_owner, sweep
from qkv.parts import SPLIT_FORMATS, Finished, explainer_parts, render_part
from qkv.render import RenderOptions, render_scene
from scenes.stages import explainer_sections


def _worker_init(verbose: bool) -> None:
    """In a render process: SIGTERM cleans up like Ctrl-C (temporary folders go), and comes
    when the parent dies, even by SIGKILL. Unless verbose, the worker says nothing: the parent reports for all of them, in one line."""
    import sys

    from qkv import interrupt

    if not verbose:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the process)
    interrupt.install()
    interrupt.die_with_parent()


def _render_task(trace: AttentionTrace, options: RenderOptions):
    """One scene, or one part of the explainer, in a worker process. Interrupted, it has
    cleaned up (render_scene's and render_part's own handlers) and then ends the process,
    rather than going back to the pool for the next task."""
    try:
        if options.part is not None:
            return render_part(trace, options)
        return render_scene(trace, options)
    except KeyboardInterrupt:
        os._exit(130)


def plan(trace: AttentionTrace, options: RenderOptions, scenes: list[str],
         jobs: int) -> list[RenderOptions]:
    """The tasks of a render: a scene each, and with several jobs the explainer (in mp4) cut
    into parts; the costliest first, so no long task starts last."""
    tasks = []
    for name in scenes:
        if name == "explainer" and jobs > 1 and options.fmt in SPLIT_FORMATS:
            tasks += [replace(options, scene=name, part=p)
                      for p in explainer_parts(jobs, explainer_sections(trace))]
        else:
            tasks.append(replace(options, scene=name))
    return sorted(tasks, key=lambda task: task.part is None)  # the explainer's parts first


def render_scenes(trace: AttentionTrace, options: RenderOptions, scenes: list[str],
                  jobs: int = 1, on_done=None) -> list[Path]:
    """Render several scenes, ``jobs`` at a time in separate processes; return every path
    written, in the order of ``scenes``. ``on_done(scene)`` is called as each one finishes."""
    tasks = plan(trace, options, scenes, jobs)
    if jobs <= 1 or len(tasks) == 1:
        written = []
        for task in tasks:
            written += render_scene(trace, task)
            if on_done:
                on_done(task.scene)
        return written

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # a fresh manim per process, no forked locks
    # An interrupted worker ends at once; its tracker would then warn about its semaphores.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")
    os.environ["QKV_RENDER_OWNER"] = render_owner()
    finished = Finished(trace, tasks)
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context,
                               initializer=_worker_init, initargs=(options.verbose,))
    try:
        futures = {pool.submit(_render_task, trace, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            if finished.add(task, future.result()) and on_done:
                on_done(task.scene)
    except BaseException as err:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # SIGTERM: each removes its own temporary folder, then exits
        pool.shutdown(wait=True, cancel_futures=True)
        # A worker stopped between making its temporary folder and cleaning it up, or parts
        # were drawn but not yet joined: sweep.
        sweep(trace, options.out)
        if isinstance(err, BrokenProcessPool):
            raise KeyboardInterrupt from None  # a worker was interrupted (Ctrl-C reaches all)
        raise
    pool.shutdown(wait=True)
    return finished.written(scenes)
