"""qkv serve: the page's numbers are `qkv export`'s, byte for byte; every refusal is the CLI's
one line; downloads come only from the jobs' folder; bodies are size-limited; a flood of jobs
is "busy" without starting processes; a cancelled or killed render leaves no file under its
final name and no process; a restart lists earlier results; and in headless Chromium the page
shows the trace, explains a cell and plays a low-quality render with its captions, fetching
nothing from outside 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from attention.display import format_number
from qkv.serve.app import MAX_BODY, make_app

ROOT = Path(__file__).resolve().parent.parent
QKV = [sys.executable, "-m", "qkv"]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]  # a job that never ends


def qkv(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*QKV, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path / "out")) as c:
        yield c


def wait(check, timeout=60.0, every=0.1):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return found


def gone(pid: int) -> bool:
    """No process of the process group ``pid`` is left."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


CASES = [  # (the page's fields, the same as `qkv export` arguments)
    ({"sentence": "The cat sat on the mat"}, ["The cat sat on the mat"]),
    ({"sentence": "-1 is a number", "causal": True, "heads": "2", "positions": "sinusoidal",
      "temperature": 0.5, "scale": False, "theme": "light"},
     ["--causal", "--heads", "2", "--positions", "sinusoidal", "--temperature", "0.5",
      "--no-scale", "--", "-1 is a number"]),
    ({"sentence": "A dog chased the ball", "model": "minilm", "layer": 2, "head": "3"},
     ["--model", "minilm", "--layer", "2", "--head", "3", "A dog chased the ball"]),
]


@pytest.mark.parametrize("fields,args", CASES, ids=["default", "options", "minilm"])
def test_the_numbers_are_qkv_exports(client, fields, args):
    r = client.post("/api/trace", json=fields)
    assert r.status_code == 200, r.text
    cli = qkv("export", "--format", "json", *args)
    assert cli.returncode == 0, cli.stderr
    assert r.text == cli.stdout  # the same bytes


REFUSED = [  # (fields, the field the line is shown beside, `qkv export` args or None)
    ({"sentence": "a " * 17}, "sentence", ["a " * 17]),
    ({"sentence": "Hi", "heads": "x"}, "heads", ["--heads", "x", "Hi"]),
    ({"sentence": "Hi", "heads": 4}, "heads", ["--heads", "4", "Hi"]),
    ({"sentence": "Hi", "temperature": "0"}, "temperature", ["--temperature", "0", "Hi"]),
    ({"sentence": "Hi", "model": "minilm", "heads": 2}, "heads",
     ["--model", "minilm", "--heads", "2", "Hi"]),
    ({"sentence": "Hi", "layer": 3}, "layer", ["--layer", "3", "Hi"]),
    ({"sentence": "Hi", "positions": "learned"}, "positions", ["--positions", "learned", "Hi"]),
    ({"sentence": ""}, "sentence", [""]),
    ({"sentence": "Hi", "theme": "pink"}, "theme", None),
    ({"sentence": "Hi", "fmt": "pdf"}, "fmt", None),
    ({"sentence": "Hi", "config_path": "/etc/passwd"}, "config_path", None),
    ({"sentence": ["Hi"]}, "sentence", None),
    ({"sentence": "Hi", "heads": [2]}, "heads", None),
    ({"sentence": "Hi", "causal": "yes please"}, "causal", None),
    (["Hi"], None, None),
]


def test_every_refusal_is_the_clis_one_line(client):
    for fields, field, args in REFUSED:
        r = client.post("/api/trace", json=fields)
        body = r.json()
        assert r.status_code == 400 and set(body) == {"error", "field"}, (fields, r.text)
        assert body["error"].startswith("error: ") and "\n" not in body["error"], body
        assert body["field"] == field, (fields, body)
        if args is not None:
            cli = qkv("export", *args)
            assert cli.returncode == 2 and cli.stderr == body["error"] + "\n", (fields, body)


def test_downloads_come_only_from_the_jobs_folder(tmp_path):
    """A finished job (left by an earlier server) is listed and downloadable; anything else,
    by ../, an absolute path, a hidden file or a name not listed, is refused in one line."""
    out = tmp_path / "out"
    done = out / "20260101-000000-aaaaaa"
    (done / "s").mkdir(parents=True)
    (done / "s" / "scores.mp4").write_bytes(b"video")
    (done / ".stderr").write_text("secret")
    (done / ".rendering-1-x").mkdir()
    (done / ".rendering-1-x" / "scores.mp4").write_bytes(b"half")
    record = {"id": done.name, "kind": "video", "label": "scores", "sentence": "Hi",
              "command": [], "state": "done", "error": None, "created": 1.0, "started": 1.0,
              "finished": 2.0, "files": []}
    (done / "job.json").write_text(json.dumps(record))
    stopped = out / "20260101-000001-bbbbbb"
    (stopped / ".rendering-2-y").mkdir(parents=True)
    (stopped / "job.json").write_text(json.dumps({**record, "id": stopped.name,
                                                  "state": "running"}))
    (tmp_path / "secret.txt").write_text("outside")
    (out / "loose.txt").write_text("not a job's")
    with TestClient(make_app(out)) as client:
        jobs = {j["id"]: j for j in client.get("/api/jobs").json()["jobs"]}
        assert [f["name"] for f in jobs[done.name]["files"]] == ["s/scores.mp4"]
        assert jobs[stopped.name]["state"] == "failed" and not (stopped / ".rendering-2-y").exists()
        assert "stopped before" in jobs[stopped.name]["error"]
        ok = client.get(jobs[done.name]["files"][0]["url"])
        assert ok.status_code == 200 and ok.content == b"video"
        bad = [f"/files/{done.name}/../../secret.txt", "/files/%2e%2e/secret.txt",
               f"/files/{done.name}/%2e%2e/%2e%2e/secret.txt", "/files//etc/passwd",
               "/files/%2Fetc%2Fpasswd", f"/files/{done.name}/.stderr",
               f"/files/{done.name}/.rendering-1-x/scores.mp4", f"/files/{done.name}/job.json",
               f"/files/{done.name}/s/..%5C..%5Csecret.txt", "/files/loose.txt",
               f"/files/{done.name}", f"/files/{done.name}/s/nothing.mp4", "/static/../app.py",
               "/static/index.html"]
        for url in bad:
            r = client.get(url)
            assert r.status_code in (403, 404), (url, r.status_code)
            error = r.json()["error"]
            assert error.startswith("error: ") and "\n" not in error, (url, r.text)
            assert "outside" not in r.text and "secret" not in r.text.replace("secret.txt", "")


def test_bodies_are_json_and_small(client):
    cases = lambda: [  # noqa: E731 (made anew: the chunked body is read once)
        ({"content": b"{" + b" " * (MAX_BODY + 1) + b"}",
          "headers": {"content-type": "application/json"}}, 413),
        ({"content": iter([b'{"sentence": "', b"a" * MAX_BODY, b'"}']),  # no Content-Length
          "headers": {"content-type": "application/json"}}, 413),
        ({"content": b'{"sentence": "Hi"}', "headers": {"content-type": "text/plain"}}, 415),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, 400),
    ]
    for url in ("/api/trace", "/api/jobs"):
        for request, status in cases():
            r = client.post(url, **request)
            assert r.status_code == status, (url, status, r.text)
            assert "\n" not in r.json()["error"] and "Traceback" not in r.text
    assert client.post("/api/trace", json={"sentence": "Hi"}).status_code == 200  # goes on
    assert client.get("/api/trace").status_code == 405


def test_a_flood_of_jobs_is_busy_and_starts_no_more_processes(tmp_path):
    app = make_app(tmp_path / "out", slots=1, waiting=2, python=SLEEPER)
    jobs = app.state.jobs
    with TestClient(app) as client:
        answers = []

        def ask():
            answers.append(client.post("/api/jobs", json={
                "kind": "video", "scene": "scores", "sentence": "The cat sat", "quality": "low"}))
        threads = [threading.Thread(target=ask) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 3 + [503] * 9, codes
        for r in answers:
            if r.status_code == 503:
                assert r.json()["error"].startswith("error: busy:"), r.text
        running = wait(lambda: [j for j in jobs.listed() if j.process is not None])
        time.sleep(0.5)
        assert jobs.started_processes == 1 and len(running) == 1
        pid = running[0].process.pid
        states = sorted(j["state"] for j in client.get("/api/jobs").json()["jobs"])
        assert states == ["queued", "queued", "running"]
        # what a job takes is checked as the CLI checks it, before it is queued
        for fields, fragment in [({"kind": "video", "scene": "rope"}, "--model smollm2"),
                                 ({"kind": "video", "fmt": "avi"}, "--format"),
                                 ({"kind": "deck", "to": "key"}, "--to"),
                                 ({"kind": "poster"}, "kind"),
                                 ({"kind": "video", "out": "/etc"}, "out"),
                                 ({"kind": "video", "sentence": "a " * 17}, "17 tokens")]:
            r = client.post("/api/jobs", json=fields)
            assert r.status_code == 400 and fragment in r.json()["error"], (fields, r.text)
        for job in jobs.listed():
            assert client.post(f"/api/jobs/{job.id}/cancel", json={}).status_code == 200
        wait(lambda: all(j.state == "cancelled" for j in jobs.listed()))
        assert gone(pid) and jobs.started_processes == 1
        assert list((tmp_path / "out").iterdir()) == []
        r = client.post(f"/api/jobs/{job.id}/cancel", json={})
        assert r.status_code == 409 and "\n" not in r.json()["error"]
        assert client.post("/api/jobs/nope/cancel", json={}).status_code == 404


def start_explainer(client, jobs, sentence):
    r = client.post("/api/jobs", json={"kind": "explainer", "sentence": sentence,
                                       "quality": "low", "silent": True})
    assert r.status_code == 202, r.text
    job = jobs.jobs[r.json()["id"]]
    # mid-render: Manim has drawn a few animations into the job's temporary folder
    wait(lambda: job.state == "running" and
         len(list(job.folder.rglob("partial_movie_files/*/*.mp4"))) >= 2, every=0.05)
    return job


@pytest.mark.xdist_group("serve")
def test_cancel_and_kill_mid_render_leave_no_file_and_no_process(tmp_path):
    app = make_app(tmp_path / "out")
    jobs = app.state.jobs
    with TestClient(app) as client:
        job = start_explainer(client, jobs, "Cancel me soon")
        pid = job.process.pid
        assert client.post(f"/api/jobs/{job.id}/cancel", json={}).status_code == 200
        wait(lambda: job.state == "cancelled", timeout=20)
        assert gone(pid) and not job.folder.exists()
        assert not list((tmp_path / "out").rglob("*explainer*"))

        job = start_explainer(client, jobs, "Kill me soon")
        pid = job.process.pid
        os.kill(pid, signal.SIGKILL)  # the render dies: no clean-up of its own
        wait(lambda: job.state == "failed", timeout=20)
        view = next(j for j in client.get("/api/jobs").json()["jobs"] if j["id"] == job.id)
        assert view["error"] == "error: the qkv render process was stopped (SIGKILL); no file " \
                                "was written" and view["files"] == []
        assert gone(pid)
        assert not list(job.folder.rglob("explainer.*"))  # nothing under a final name
        assert not list(job.folder.rglob(".rendering-*"))
        assert client.post("/api/trace", json={"sentence": "Still here"}).status_code == 200


def test_serve_command_line(tmp_path):
    bad = qkv("serve", "--port", "70000", "--no-open")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--port" in bad.stderr
    assert "Traceback" not in bad.stderr
    # another address than this computer's own name: a warning that the page has no login
    p = subprocess.Popen([*QKV, "serve", "--host", "127.0.0.2", "--port", "0", "--no-open",
                          "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = p.stdout.readline()
        assert re.match(r"qkv serve: http://127\.0\.0\.2:\d+/", line), line
        assert "no login" in p.stderr.readline()
        taken = int(line.split(":")[3].split("/")[0])
        busy = qkv("serve", "--host", "127.0.0.2", "--port", str(taken), "--no-open", "--out",
                   str(tmp_path / "out"))
        assert busy.returncode == 2 and busy.stderr.startswith("error: cannot listen on")
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_the_explore_path_loads_no_manim():
    probe = ("import sys\nfrom starlette.testclient import TestClient\n"
             "from qkv.cli import cli\nfrom qkv.serve.app import make_app\nimport tempfile\n"
             "with TestClient(make_app(tempfile.mkdtemp())) as c:\n"
             "    assert c.post('/api/trace', json={'heads': 3}).status_code == 200\n"
             "    assert c.get('/api/meta').status_code == 200\n"
             "print('manim' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr


# ---- in a real browser ------------------------------------------------------------------
SCORES = """
const cells = [...document.querySelectorAll('table[data-m="scores"] tbody tr')].map(
  tr => [...tr.querySelectorAll('td')].map(td => [td.dataset.v, td.textContent]));
const video = document.querySelector('.job video');
return {tokens: [...document.querySelectorAll('.tokens li')].map(li => li.textContent),
        cells, tip: document.getElementById('tip').hidden ? null
                    : document.getElementById('tip').innerText,
        video: video && {ready: video.readyState, error: video.error && video.error.code,
                         src: video.currentSrc,
                         tracks: [...video.querySelectorAll('track')].map(t => t.src),
                         cues: video.textTracks.length && video.textTracks[0].cues
                               ? video.textTracks[0].cues.length : 0},
        states: [...document.querySelectorAll('.job')].map(j => j.dataset.state),
        urls: performance.getEntriesByType('resource').map(e => e.name)
              .concat([location.href],
                      [...document.querySelectorAll('[src],[href]')].map(
                        e => e.src || e.href))};
"""


def written(x: float, digits: int = 3) -> str:
    """A number as the page writes it in a sum (attention.display's format; negative ones in
    brackets)."""
    s = format_number(x, digits)
    return f"({s})" if s.startswith("\u2212") else s


@pytest.fixture
def server(tmp_path):
    p = subprocess.Popen([*QKV, "serve", "--port", "0", "--no-open", "--out",
                          str(tmp_path / "out")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = p.stdout.readline()
        yield re.search(r"http://\S+/", line).group(0)
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.mark.xdist_group("serve")
def test_the_page_in_chromium(server, request, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from tests.test_slides import chromium

    sentence = "A dog chased the red ball"
    export = json.loads(qkv("export", sentence).stdout)
    driver = chromium()
    driver.set_window_size(1440, 1000)
    try:
        driver.get(server)
        state = lambda: driver.execute_script(SCORES)  # noqa: E731
        wait(lambda: state()["tokens"], timeout=20)
        box = driver.find_element(By.ID, "f-sentence")
        box.send_keys(Keys.CONTROL, "a")
        started = time.monotonic()
        box.send_keys(sentence)
        shown = wait(lambda: (s := state())["tokens"] == export["tokens"] and s, timeout=10)
        assert time.monotonic() - started < 3  # typing and a second
        scores = export["heads"][0]["scores"]
        assert [[float(v) for v, _ in row] for row in shown["cells"]] == scores
        assert [[text for _, text in row] for row in shown["cells"]] == [
            [format_number(x) for x in row] for row in scores]

        # hovering a score writes out its dot product with the trace's numbers
        cell = driver.find_element(By.CSS_SELECTOR,
                                   'table[data-m="scores"] td[data-i="1"][data-j="4"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
        ActionChains(driver).move_to_element(cell).perform()
        tip = wait(lambda: state()["tip"], timeout=5)
        q, k = export["heads"][0]["Q"][1], export["heads"][0]["K"][4]
        products = " + ".join(written(a * b) for a, b in zip(q, k))
        tokens = export["tokens"]
        assert f"query \u201c{tokens[1]}\u201d and key \u201c{tokens[4]}\u201d" in tip, tip
        assert products in tip and f"= {written(scores[1][4])}" in tip, tip

        # an error beside its field, as the CLI says it
        heads = driver.find_element(By.ID, "f-heads")
        heads.send_keys("4")
        error = wait(lambda: driver.find_element(By.ID, "err-heads").text, timeout=10)
        assert error == qkv("export", "--heads", "4", sentence).stderr.strip()
        heads.send_keys(Keys.BACK_SPACE)
        wait(lambda: not driver.find_element(By.ID, "err-heads").text, timeout=10)

        # a low-quality narrated video of the scores scene plays in the page, with captions
        Select(driver.find_element(By.ID, "f-scene")).select_by_value("scores")
        Select(driver.find_element(By.ID, "f-quality")).select_by_value("low")
        driver.find_element(By.CSS_SELECTOR, 'button[data-kind="video"]').click()
        done = wait(lambda: (s := state())["video"] and s["video"]["ready"] >= 3
                    and s["video"]["cues"] > 0 and s, timeout=120, every=0.3)
        assert done["video"]["error"] is None and done["states"] == ["done"]
        assert done["video"]["src"].endswith("/scores.mp4")
        assert [t.rsplit("/", 1)[1] for t in done["video"]["tracks"]] == ["scores.vtt"]
        outside = [u for u in done["urls"] if u and not u.startswith(server) and
                   not u.startswith("data:")]
        assert outside == [], outside

        # the picture in the docs: the whole page, the video at a frame of its scores
        driver.set_window_size(1440, 1240)
        driver.execute_script("window.scrollTo(0, 0); const v = document.querySelector("
                              "'.job video'); v.currentTime = 0.75 * v.duration;")
        time.sleep(1)
        cell = driver.find_element(By.CSS_SELECTOR,
                                   'table[data-m="weights"] td[data-i="2"][data-j="5"]')
        ActionChains(driver).move_to_element(cell).perform()
        shot = tmp_path / "serve.png"
        driver.save_screenshot(str(shot))
        if request.config.getoption("--update-snapshots"):
            shutil.copy(shot, ROOT / "assets" / "serve.png")
    finally:
        driver.quit()


@pytest.mark.xdist_group("serve")
def test_a_worksheet_job_and_a_pptx_deck_job_make_their_files(tmp_path):
    """The worksheet button's PDF (the CLI's `qkv export --format pdf`, a real PDF whose text
    holds the trace's numbers) and the deck button's PPTX, each downloadable."""
    import zipfile

    from attention import compute
    from attention.display import format_number

    with TestClient(make_app(tmp_path / "out")) as client:
        r = client.post("/api/jobs", json={"kind": "worksheet", "sentence": "Cats chase mice"})
        assert r.status_code == 202, r.text
        sheet = r.json()["id"]
        r = client.post("/api/jobs", json={"kind": "deck", "sentence": "Cats chase mice",
                                           "to": "pptx", "quality": "low", "silent": True})
        assert r.status_code == 202, r.text
        deck = r.json()["id"]

        def finished():
            jobs = {j["id"]: j for j in client.get("/api/jobs").json()["jobs"]}
            return jobs if all(jobs[i]["state"] in ("done", "failed") for i in (sheet, deck)) \
                else None
        jobs = wait(finished, timeout=240, every=0.5)
        assert [jobs[i]["state"] for i in (sheet, deck)] == ["done", "done"], jobs
        assert jobs[deck]["label"] == "deck (pptx) · low · silent"
        [pdf] = [f for f in jobs[sheet]["files"] if f["name"].endswith(".pdf")]
        data = client.get(pdf["url"]).content
        assert data.startswith(b"%PDF")
        (tmp_path / "w.pdf").write_bytes(data)
        text = subprocess.run(["pdftotext", str(tmp_path / "w.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        trace = compute("Cats chase mice")
        assert format_number(trace.heads[0].weights[0, 0], 2).replace("\u2212", "-") in \
            text.replace("\u2212", "-")
        [pptx] = [f for f in jobs[deck]["files"] if f["name"].endswith(".pptx")]
        (tmp_path / "d.pptx").write_bytes(client.get(pptx["url"]).content)
        with zipfile.ZipFile(tmp_path / "d.pptx") as z:
            assert len([n for n in z.namelist() if n.endswith(".mp4")]) >= 10


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.xdist_group("serve")
def test_ctrl_c_with_a_render_running_stops_it_and_leaves_no_file(tmp_path):
    """Ctrl-C (SIGINT) while a job renders: the server says it stopped, the render's
    processes are gone and its folder with them."""
    out = tmp_path / "out"
    p = subprocess.Popen([*QKV, "serve", "--port", "0", "--no-open", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = re.search(r"http://\S+/", p.stdout.readline()).group(0)
        import httpx

        r = httpx.post(url + "api/jobs", json={"kind": "explainer", "sentence": "Stop me now",
                                               "quality": "low", "silent": True})
        assert r.status_code == 202, r.text
        job = out / r.json()["id"]
        wait(lambda: len(list(job.rglob("partial_movie_files/*/*.mp4"))) >= 2, every=0.05)
        renders = children(p.pid)
        assert renders
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 0
        said = p.stderr.read()
        assert "qkv serve: stopped" in said and "Traceback" not in said
        assert all(gone(pid) for pid in renders)
        assert not job.exists()
    finally:
        if p.poll() is None:
            p.kill()
