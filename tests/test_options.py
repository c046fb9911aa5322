"""The render options are one list (qkv.options.RenderOptions): every field a flag of the
commands that take it, a batch column, carried into what a batch's workers render, and a bad
value the same error from every way in."""

import pickle
from dataclasses import fields
from pathlib import Path

import pytest

from attention import QKVError
from qkv.batch import COLUMNS, Job, make_job, plan, read_rows, worker_options
from qkv.cli import cli
from qkv.options import RENDER_OPTIONS, RenderOptions, options_of

# A value for every render option other than its default, written out by hand (a new option
# fails the first test below until it has one here).
NOT_DEFAULT = {"scene": "scores", "quality": "low", "format": "webm", "transparent": True,
               "fps": 12, "sections": True, "out": "elsewhere", "theme": "light",
               "silent": True, "voice_speed": 0.9, "burn_captions": True, "verbose": True}
PER_ROW = {"make": "still"}  # the batch Job's own column (a still: a png of the scene)
COMMANDS = ("render", "slides", "batch")


def as_cell(value) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def as_flags(names) -> list[str]:
    by_name = {o.name: o for o in RENDER_OPTIONS}
    args = []
    for name in names:
        value = NOT_DEFAULT[name]
        args += [by_name[name].flag] if value is True else [by_name[name].flag, str(value)]
    return args


def test_every_field_is_an_option_with_a_value_here():
    assert [f.name for f in fields(RenderOptions) if f.name != "part"] == [
        o.field for o in RENDER_OPTIONS]  # every field but the internal one is an option
    assert set(NOT_DEFAULT) == {o.name for o in RENDER_OPTIONS}
    for o in RENDER_OPTIONS:
        assert NOT_DEFAULT[o.name] != o.default and o.help, o.name
        assert o.commands, f"{o.name} is an option of no command"
    assert [o.name for o in options_of(Job)] == list(PER_ROW)


def test_every_render_option_is_a_flag_of_exactly_the_commands_that_take_it():
    for o in (*RENDER_OPTIONS, *options_of(Job)):
        for command in COMMANDS:
            params = {p.opts[0]: p for p in cli.commands[command].params if p.opts}
            if command not in o.commands:
                assert o.flag not in params, (command, o.flag)
                continue
            param = params.get(o.flag)
            assert param is not None, f"qkv {command} has no {o.flag}"
            assert (param.name, param.default, param.help) == (o.field, o.default, o.help)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_flags_reach_the_render_options_it_makes(command, tmp_path, monkeypatch):
    """Every flag of a command set to a value other than its default: the RenderOptions the
    command goes on with holds each of them."""
    import qkv.commands.batch
    import qkv.commands.render
    import qkv.slides

    made = {}
    monkeypatch.chdir(tmp_path)  # --out elsewhere: a folder here
    monkeypatch.setattr(qkv.commands.render, "render_with_progress",
                        lambda trace, options, names, jobs, *scheduler:
                        made.setdefault("options", options) and [])
    monkeypatch.setattr(qkv.slides, "check_reveal", lambda theme: None)
    monkeypatch.setattr(qkv.slides, "render_deck", lambda trace, options, **kw:
                        made.setdefault("options", options) and [])
    monkeypatch.setattr(qkv.commands.batch, "batch_with_progress",
                        lambda file, defaults, *a: made.setdefault("options", defaults.options)
                        and ([], [Path("report.csv")]))
    names = [o.name for o in RENDER_OPTIONS if command in o.commands]
    args = [command, *(["rows.txt"] if command == "batch" else []), *as_flags(names)]
    cli.main(args, standalone_mode=False)
    given = {o.field: NOT_DEFAULT[o.name] for o in RENDER_OPTIONS if o.name in names}
    assert made["options"] == RenderOptions(**given)


def test_every_column_is_carried_into_the_job_a_worker_renders(tmp_path):
    """A batch file with every column set to a value other than its default (and so other
    than the command line's): the job holds each, a worker is sent it whole (pickled), and
    the render options the worker renders with have every one."""
    assert {o.name for o in COLUMNS} == {o.name for o in RENDER_OPTIONS
                                         if o.name not in ("out", "verbose")} | set(PER_ROW)
    rows = tmp_path / "rows.csv"
    render_columns = [o.name for o in COLUMNS if o.name not in PER_ROW]
    rows.write_text(",".join(["sentence", *render_columns]) + "\n" + ",".join(
        ["The cat sat", *(as_cell(NOT_DEFAULT[c]) for c in render_columns)]) + "\n",
        encoding="utf-8")
    ((line, row),) = read_rows(rows)
    defaults = Job(0, "")
    job, _ = make_job(line, row, defaults)
    sent = pickle.loads(pickle.dumps(job))
    assert sent == job and sent.key == job.key
    root = tmp_path / "worker"
    rendered = worker_options(sent, root)
    assert rendered == RenderOptions(out=root, **{o.field: NOT_DEFAULT[o.name] for o in COLUMNS
                                                  if o.name not in PER_ROW})
    # and make, the row's own: a still is the scene's last frame, a png
    still, _ = make_job(2, {"sentence": "The cat sat", "make": "still"}, defaults)
    assert still.make == "still" and worker_options(still, root).fmt == "png"
    assert still.key != make_job(2, {"sentence": "The cat sat"}, defaults)[0].key


BAD = [("fps", "0", "--fps must be between 1 and 120 (got 0)"),
       ("voice_speed", "2", "--voice-speed must be between 0.8 and 1.25 (got 2)"),
       ("quality", "8k", "--quality must be one of low, medium, high, 4k (got '8k')"),
       ("format", "avi", "--format must be one of mp4, gif, webm, mov, png, svg, pdf (got 'avi')"),
       ("theme", "pink", "--theme must be one of dark, light (got 'pink')")]


@pytest.mark.parametrize("name,raw,message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_is_the_same_error_from_every_way_in(name, raw, message, tmp_path,
                                                         monkeypatch):
    """From Python, a flag of every command that takes it, a batch cell: the same line."""
    (o,) = [o for o in RENDER_OPTIONS if o.name == name]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QKVError) as python:
        RenderOptions(**{o.field: o.parse(raw, o.name)})
    said = {"python": str(python.value)}
    for command in o.commands:
        with pytest.raises(QKVError) as flag:
            cli.main([command, *(["rows.csv"] if command == "batch" else []), o.flag, raw],
                     standalone_mode=False)
        said[command] = str(flag.value)
    rows = tmp_path / "rows.csv"
    rows.write_text(f"sentence,{name}\nThe cat sat,{raw}\n", encoding="utf-8")
    (refused,) = plan(rows, Job(0, ""), tmp_path / "out", force=False, strict=False).results
    said["batch cell"] = refused.error
    assert said == dict.fromkeys(said, message)
    assert list(tmp_path.iterdir()) == [rows]  # nothing made


def test_the_batch_docs_name_every_column():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "batch.md").read_text("utf-8")
    assert [o.name for o in COLUMNS if f"`{o.name}`" not in docs] == []
