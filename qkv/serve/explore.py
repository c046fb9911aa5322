"""The page's fields as the CLI's arguments: read by the same click commands (``qkv export``,
``qkv render``, ``qkv slides``), so a value is accepted or refused exactly as on the command
line, with the CLI's own one-line ``error:`` message. The numbers are the export's JSON."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import click

from attention import DEFAULT_SENTENCE, MATH_OPTIONS, QKVError
from attention.export import to_json

MATH_NAMES = tuple(o.name for o in MATH_OPTIONS)
MAX_SENTENCE = 2000  # characters; the tokenizer refuses far fewer tokens anyway


class Refused(Exception):
    """A request the page or the CLI refuses: ``line`` is the one line shown (as the CLI
    prints it, ``error: ...``), ``field`` the page's field it is about (None: the request as
    a whole), ``status`` the HTTP status."""

    def __init__(self, line: str, field: str | None = None, status: int = 400):
        super().__init__(line)
        self.line = line
        self.field = field
        self.status = status


def one_line(message: str) -> str:
    """As ``qkv.cli`` prints an error: ``error:`` and the message on one line."""
    return "error: " + " ".join(str(message).split())


def _field_of(message: str, fields) -> str:
    """The page's field an error names (its first ``--flag`` that is a field), else the
    sentence (the tokenizer's refusals)."""
    dropped = re.findall(r"drop (--[a-z-]+)", message)  # "--model minilm ...: drop --heads"
    for flag in re.findall(r"--(?:no-)?([a-z][a-z-]*)", " ".join(dropped) or message):
        name = flag.replace("-", "_")
        if name in fields:
            return name
    return "sentence"


def _text(value, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Refused(one_line(f"--{name.replace('_', '-')} must be text or a number "
                               f"(got {value!r})"), name)
    return str(value)


def argv(fields: dict, command: str, allowed=None) -> list[str]:
    """The command line (after ``qkv COMMAND``) for the page's ``fields``: a yes/no field is
    ``--name`` or ``--no-name``; an empty field (None, "") is left out, as an option not
    given; the sentence goes last, after ``--`` (it may start with a dash). ``allowed``: the
    fields the page may set (default: every option of the command but the files)."""
    from qkv.cli import cli

    if not isinstance(fields, dict):
        raise Refused(one_line("the request must be a JSON object of fields"))
    sentence = fields.get("sentence", DEFAULT_SENTENCE)  # the CLI's, when none is given
    if not isinstance(sentence, str):
        raise Refused(one_line("the sentence must be text"), "sentence")
    if len(sentence) > MAX_SENTENCE:
        raise Refused(one_line(f"the sentence is longer than {MAX_SENTENCE} characters"),
                      "sentence")
    params = {p.name: p for p in cli.commands[command].params if p.name != "sentence"}
    args: list[str] = []
    for name, value in fields.items():
        if name == "sentence" or value is None or value == "":
            continue
        param = params.get(name)
        if param is None or name in ("config_path", "out", "output", "verbose", "jobs") or (
                allowed is not None and name not in allowed):
            raise Refused(one_line(f"qkv {command} has no field {name!r}"), name)
        flag = param.opts[0]
        if getattr(param, "is_flag", False) or param.secondary_opts:
            if not isinstance(value, bool):
                raise Refused(one_line(f"{flag} is yes or no (got {value!r})"), name)
            if param.secondary_opts:
                args.append(flag if value else param.secondary_opts[0])
            elif value:
                args.append(flag)
        else:
            args += [flag, _text(value, name)]
    return [*args, "--", sentence]


def parse(command: str, args: list[str]) -> click.Context:
    """``qkv COMMAND ARGS`` read by the CLI's own parser, or Refused with its line."""
    from qkv.cli import cli

    parent = click.Context(cli, info_name="qkv")
    try:
        return cli.commands[command].make_context(command, list(args), parent=parent)
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        raise Refused(one_line(err.format_message() + hint),
                      _field_of(err.format_message(), _fields(command))) from None
    except click.ClickException as err:
        raise Refused(one_line(err.format_message()),
                      _field_of(err.format_message(), _fields(command))) from None


def _fields(command: str) -> set[str]:
    from qkv.cli import cli

    return {p.name for p in cli.commands[command].params}


def trace_of(ctx: click.Context):
    """The trace for a parsed command (``--config`` is not a field: never read here)."""
    from qkv.commands.common import resolve

    math = {k: v for k, v in ctx.params.items() if k in MATH_NAMES}
    try:
        with ctx:
            trace, _ = resolve(ctx.params["sentence"], math, None)
    except QKVError as err:
        raise Refused(one_line(str(err)), _field_of(str(err), _fields(ctx.info_name))) from None
    return trace


@dataclass
class _Cache:
    """The last few exports, by their command line: the page asks again as one types."""

    size: int = 24

    def __post_init__(self):
        self.items: OrderedDict[tuple, str] = OrderedDict()
        self.lock = Lock()

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_exports = _Cache()


def export_json(fields: dict) -> str:
    """What ``qkv export --format json`` prints for these fields (the same bytes), or
    Refused with the line it prints on standard error."""
    if not isinstance(fields, dict):
        raise Refused(one_line("the request must be a JSON object of fields"))
    args = argv({k: v for k, v in fields.items() if k != "theme"}, "export", MATH_NAMES)
    if "theme" in fields:  # the page's colours and the videos': checked as render checks it
        from qkv.options import OPTION

        try:
            OPTION["theme"].check(fields["theme"])
        except QKVError as err:
            raise Refused(one_line(str(err)), "theme") from None

    def make():
        return to_json(trace_of(parse("export", args)))
    return _exports.get(tuple(args), make)
