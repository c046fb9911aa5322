"""SIGTERM stops a render as Ctrl-C does (a KeyboardInterrupt: temporary files go, earlier files
stay), also when the signal lands inside a weakref callback or a ``__del__``. There Python
only prints the exception and carries on, and the render would finish as if nothing happened;
the hook below raises it again a moment later instead, from a timer, outside the callback."""

from __future__ import annotations

import os
import signal
import sys


def _stop(signum, frame):
    raise KeyboardInterrupt


def _unraisable(unraisable, default=sys.unraisablehook) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        signal.setitimer(signal.ITIMER_REAL, 0.02)  # SIGALRM: _stop, outside this callback
        return
    default(unraisable)


def install() -> None:
    """In the process the user started, and in every render worker."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGALRM, _stop)
    sys.unraisablehook = _unraisable


def die_with_parent() -> None:
    """In a worker process: SIGTERM (so it cleans up as on Ctrl-C) when the process that
    started it dies, however it dies: a parent killed with SIGKILL can tell no one, and its
    workers would otherwise live on, holding its terminal's pipes open, forever. Linux only
    (prctl PR_SET_PDEATHSIG); elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)
