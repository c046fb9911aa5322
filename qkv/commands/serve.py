"""``qkv serve``: a local page to explore every number of a sentence's attention and make its
video, deck and worksheet (qkv.serve)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click

from attention import QKVError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port to listen on (0: any free port, printed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; the page has no login, so keep it local.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("renders/serve"), show_default=True,
              help="Folder of the jobs' files (a folder per job); a restart lists them again.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Jobs that render at once (one process each); a few more wait.")
@click.option("--open/--no-open", "open_page", default=True, show_default=True,
              help="Open the page in the web browser once the server listens.")
def serve(port, host, out, jobs, open_page):
    """A local page: type a sentence, explore every number, make its video, deck and
    worksheet. Works with no network; stop it with Ctrl-C."""
    import uvicorn

    from qkv.output import check_out
    from qkv.serve.app import LOOPBACK_HOSTS, make_app

    check_out(out)
    local = host in LOOPBACK
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as err:
        raise QKVError(f"cannot listen on {host}:{port} ({err.strerror or err}); pick another "
                       "--port or --host") from None
    except (UnicodeError, ValueError):
        raise QKVError(f"--host {host!r} is not an address to listen on") from None
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if not local:
        click.echo(f"warning: the page has no login: anyone who can reach {shown}:{port} can "
                   "use it and start renders", err=True)
    app = make_app(out, slots=jobs, allowed_hosts=LOOPBACK_HOSTS if local else None)
    click.echo(f"qkv serve: {url} (jobs in {out}; Ctrl-C stops)")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    if open_page:
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn stopped the server (and the jobs) first
        pass
    click.echo("qkv serve: stopped", err=True)
