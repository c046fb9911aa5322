"""One render over a Dask cluster (issue #27): ``qkv render --scheduler`` sends the explainer's
parts to Dask workers and joins them here: the same video packets, captions and soundtrack as
one process, also when a worker dies mid-part (on a LocalCluster) and on a cluster of
``dask scheduler`` and two ``dask worker`` processes; an unreachable scheduler is one line."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "Cats chase mice"
ARGS = ("render", SENTENCE, "--quality", "low", "--fps", "5")
pytestmark = pytest.mark.xdist_group("cluster")


def qkv(*args, **kw):
    return subprocess.run([sys.executable, "-m", "qkv", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, **kw)


def made(out: Path) -> dict:
    """The explainer's packets (video and sound) and its captions."""
    [video] = out.rglob("explainer.mp4")
    with av.open(str(video)) as c:
        packets = {kind: [bytes(p) for p in c.demux(stream) if p.dts is not None]
                   for kind, stream in (("video", c.streams.video[0]),
                                        ("audio", c.streams.audio[0]))}
    return {**packets, "srt": video.with_suffix(".srt").read_text(),
            "hidden": sorted(p.name for p in video.parent.iterdir() if p.name.startswith("."))}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    p = qkv(*ARGS, "--jobs", "1", "--out", out)
    assert p.returncode == 0, p.stderr
    return made(out)


def test_a_local_cluster_renders_the_same_explainer_when_a_worker_dies(tmp_path, one_process):
    """Two worker processes; the first one seen drawing a part is killed (SIGKILL): Dask runs
    its part again (on the other, or on the one its nanny restarts), and the explainer is the
    one a single process makes, packet for packet, with the same captions and sound."""
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        done = {}
        thread = threading.Thread(target=lambda: done.update(p=qkv(
            *ARGS, "--scheduler", cluster.scheduler_address, "--out", tmp_path)))
        thread.start()
        pids = client.run(os.getpid)  # worker address -> process id
        killed, deadline = None, time.time() + 300
        while killed is None and time.time() < deadline and thread.is_alive():
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                time.sleep(1.0)  # well into its part
                killed = busy[0]
                os.kill(pids[killed], signal.SIGKILL)
            time.sleep(0.05)
        thread.join(timeout=600)
    assert killed is not None
    assert done["p"].returncode == 0, done["p"].stderr
    assert made(tmp_path) == one_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_and_two_worker_processes_render_the_same_explainer(tmp_path, one_process):
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                  address.rsplit(":", 1)[1], "--no-dashboard"], **quiet)
    workers = [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny",
                                 "--no-dashboard"], **quiet) for _ in range(2)]
    try:
        p = qkv(*ARGS, "--scheduler", address, "--out", tmp_path)
        assert p.returncode == 0, p.stderr
        assert made(tmp_path) == one_process
    finally:
        for process in (*workers, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path):
    p = qkv(*ARGS, "--scheduler", f"tcp://127.0.0.1:{free_port()}", "--out", tmp_path / "out")
    assert p.returncode == 2
    assert p.stderr.splitlines()[-1].startswith("error: cannot reach the Dask scheduler at ")
    assert "Traceback" not in p.stderr and not (tmp_path / "out").exists()


def test_a_scheduler_without_workers_is_one_line(monkeypatch):
    import distributed

    from attention import QKVError
    from qkv import cluster

    monkeypatch.setattr(cluster, "WORKERS_WAIT", 1)
    with distributed.LocalCluster(n_workers=0, processes=False,
                                  dashboard_address=None) as empty:
        with pytest.raises(QKVError) as error:
            cluster.connect(empty.scheduler_address)
    assert str(error.value) == (f"the Dask scheduler at {empty.scheduler_address} has no "
                                "workers (none came in 1 s); start some with 'dask worker "
                                f"{empty.scheduler_address} --nthreads 1'")
