"""The Starlette application of ``qkv serve``: the page (one HTML file, one script, one style
sheet, all in this package: nothing from another site), its API and the downloads.

=====================  =============================================================
GET  /                 the page
GET  /static/NAME      its script and style sheet
GET  /api/meta         the fields and their choices (from the CLI's own option lists)
POST /api/trace        the page's fields -> what ``qkv export --format json`` prints
GET  /api/jobs         the jobs, newest first, with progress and files
POST /api/jobs         start a job: {"kind": video|explainer|deck|worksheet, fields...}
POST /api/jobs/ID/cancel
GET  /files/ID/PATH    a file a job made (from the output folder only)
=====================  =============================================================

Every refusal is JSON ``{"error": "error: ...", "field": ...}``: one line, never a traceback.
A POST must be JSON (``Content-Type: application/json``: another site's page cannot send
one without the browser asking first, which this server never allows) and at most
:data:`MAX_BODY` bytes.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path, PurePosixPath

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from qkv.serve.explore import Refused, export_json, one_line
from qkv.serve.jobs import Jobs

MAX_BODY = 16 * 1024  # bytes of a request's body
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


def refusal(err: Refused) -> JSONResponse:
    return JSONResponse({"error": err.line, "field": err.field}, status_code=err.status)


def _static(name: str) -> bytes:
    return resources.files("qkv.serve").joinpath("static", name).read_bytes()


async def read_json(request: Request):
    """The request's JSON body, refused if it is not JSON or larger than MAX_BODY (counted
    as it arrives, whatever Content-Length says)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(one_line("send the fields as JSON (Content-Type: application/json)"),
                      status=415)
    too_big = Refused(one_line(f"the request is larger than {MAX_BODY // 1024} KiB"),
                      status=413)
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_big
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Refused(one_line("the request is not valid JSON")) from None


def job_view(jobs: Jobs, job) -> dict:
    running = job.state == "running"
    return {
        "id": job.id, "kind": job.kind, "label": job.label, "sentence": job.sentence,
        "state": job.state, "error": job.error, "position": jobs.position(job),
        "elapsed": (None if job.started is None else
                    round((job.finished or time.time()) - job.started, 1)),
        "animations": job.animations if running else None,
        "phase": job.phase if running else "",
        "files": [{"name": name, "url": f"/files/{job.id}/{name}",
                   "size": (job.folder / name).stat().st_size
                   if (job.folder / name).is_file() else None} for name in job.files],
    }


def meta(jobs: Jobs) -> dict:
    """The page's fields and their choices, from the CLI's own lists."""
    from attention import DEFAULT_SENTENCE, MATH_OPTIONS
    from attention.core import TRAINED_SIZES
    from qkv.options import OPTION
    from qkv.registry import SCENES
    from scenes.theme import THEMES

    return {
        "sentence": DEFAULT_SENTENCE,
        "math": [{"name": o.name, "kind": o.kind.__name__, "default": o.default,
                  "choices": o.choices, "help": o.help} for o in MATH_OPTIONS],
        "trained": TRAINED_SIZES,
        "scenes": {name: summary for name, (_, summary) in SCENES.items()},
        "media": {name: {"choices": OPTION[name].choices, "default": OPTION[name].default,
                         "help": OPTION[name].help}
                  for name in ("quality", "fmt", "theme")},
        "decks": ["html", "pptx"],
        "themes": {name: {"background": t.background, "text": t.text, "muted": t.muted,
                          "grid": t.grid, "q": t.q, "k": t.k, "v": t.v, "accent": t.accent,
                          "heat": list(t.heat), "dark_ink": t.dark_ink,
                          "light_ink": t.light_ink} for name, t in THEMES.items()},
        "slots": jobs.slots, "waiting": jobs.waiting_limit,
    }


def make_app(out: Path, slots: int = 1, waiting: int | None = None,
             allowed_hosts: list[str] | None = None, python=None) -> Starlette:
    """The application, serving and writing the jobs in ``out``. ``allowed_hosts``: the
    Host headers answered (a page bound to 127.0.0.1 answers only its own names, which a
    site that rebinds its name to 127.0.0.1 does not send)."""
    from qkv.serve.jobs import WAITING

    jobs = Jobs(out, slots=slots, waiting=WAITING if waiting is None else waiting,
                python=python)

    async def page(request):
        return Response(_static("index.html"), media_type="text/html; charset=utf-8")

    async def static(request):
        name = request.path_params["name"]
        if name not in STATIC:
            raise Refused(one_line(f"no file {name!r}"), status=404)
        return Response(_static(name), media_type=STATIC[name] + "; charset=utf-8")

    async def api_meta(request):
        return JSONResponse(meta(jobs))

    async def api_trace(request):
        fields = await read_json(request)
        text = await run_in_threadpool(export_json, fields)
        return Response(text, media_type="application/json")

    async def api_jobs(request):
        return JSONResponse({"jobs": [job_view(jobs, j) for j in jobs.listed()]})

    async def api_submit(request):
        fields = await read_json(request)
        job = await run_in_threadpool(jobs.submit, fields)
        return JSONResponse(job_view(jobs, job), status_code=202)

    async def api_cancel(request):
        await read_json(request)  # a POST like the others: JSON, small
        job = jobs.cancel(request.path_params["id"])
        return JSONResponse(job_view(jobs, job))

    async def files(request):
        raw = request.path_params["path"]
        path = PurePosixPath(raw)
        if path.is_absolute() or "\\" in raw or any(
                p in ("..", ".") or p.startswith(".") for p in path.parts) or not path.parts:
            raise Refused(one_line(f"refused: {raw!r} is not a file of a job"), status=403)
        job = jobs.jobs.get(path.parts[0])
        name = PurePosixPath(*path.parts[1:]).as_posix() if len(path.parts) > 1 else ""
        if job is None or name not in job.files:
            raise Refused(one_line(f"no file {raw!r}"), status=404)
        target = (jobs.out / path).resolve()
        if not target.is_relative_to(jobs.out) or not target.is_file():
            raise Refused(one_line(f"no file {raw!r}"), status=404)
        return FileResponse(target, filename=None if target.suffix in (".mp4", ".webm",
                            ".gif", ".png", ".vtt", ".html") else target.name)

    async def refused(request, err: Refused):
        return refusal(err)

    async def http_error(request, err: HTTPException):
        return JSONResponse({"error": one_line(err.detail or f"HTTP {err.status_code}"),
                             "field": None}, status_code=err.status_code)

    async def crashed(request, err: Exception):
        print(one_line(f"qkv serve: {type(err).__name__}: {err}"), file=sys.stderr)
        return JSONResponse({"error": one_line(f"the server could not do that "
                                               f"({type(err).__name__}); it goes on"),
                             "field": None}, status_code=500)

    @asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(jobs.close)

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/meta", api_meta),
        Route("/api/trace", api_trace, methods=["POST"]),
        Route("/api/jobs", api_jobs, methods=["GET"]),
        Route("/api/jobs", api_submit, methods=["POST"]),
        Route("/api/jobs/{id}/cancel", api_cancel, methods=["POST"]),
        Route("/files/{path:path}", files),
    ]
    middleware = [Middleware(GZipMiddleware, minimum_size=2048)]
    if allowed_hosts:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        Refused: refused, HTTPException: http_error, Exception: crashed},
        lifespan=lifespan)
    app.state.jobs = jobs
    return app
