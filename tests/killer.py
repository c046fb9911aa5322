"""Run ``qkv`` and SIGKILL it at one moment of its work, as a power cut or the kernel's
out-of-memory killer would: in the middle of writing a video file.

    python -m tests.killer PATTERN N qkv-args...

The process kills itself just after muxing its Nth packet into an output container (PyAV's
``av.open(..., mode="w")``) whose path matches the regular expression PATTERN: Manim's
partial movies while frames are drawn and encoded, Manim's joining of them into the scene's
movie, the narration's mux, the join of the explainer's parts. Muxed packets are flushed by
the kernel as they are written, so the file is left half made, as a real crash leaves it.
If no such container is opened, the process exits 3 (the moment was never reached).
"""

import os
import re
import signal
import sys

import av

PATTERN, AFTER = re.compile(sys.argv[1]), int(sys.argv[2])
_open = av.open
muxed = 0


class Killing:
    """A container that dies after the Nth packet (everything else is the real one's)."""

    def __init__(self, container):
        self._container = container

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)

    def mux(self, packets):
        global muxed
        self._container.mux(packets)
        muxed += 1
        if muxed >= AFTER:
            os.kill(os.getpid(), signal.SIGKILL)


def opened(file, mode="r", *args, **kwargs):
    container = _open(file, mode, *args, **kwargs)
    if mode == "w" and PATTERN.search(str(file)):
        return Killing(container)
    return container


av.open = opened

if __name__ == "__main__":
    from qkv.cli import main

    try:
        main(sys.argv[3:])
    except SystemExit as exit:
        if exit.code:
            raise
    sys.exit(3)
