"""Where files go, and how they get there whole.

Every render works in a private temporary folder inside the sentence's output folder
``<out>/<slug>-<hash>`` and renames its files into place only when all went well
(:func:`staging`), so a final path only ever holds a complete file. Single files (exports,
worksheets) are written through a temporary file and renamed (:func:`write_atomically`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from attention import AttentionTrace, QKVError
from attention.export import to_json


def slug(sentence: str, limit: int = 60) -> str:
    """A folder name for a sentence: lower case, letters and digits joined by hyphens."""
    text = unicodedata.normalize("NFKC", sentence).lower()
    s = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_")
    return s[:limit].rstrip("-_") or "sentence"


def output_folder(trace: AttentionTrace, out: Path) -> Path:
    """``<out>/<slug>-<hash>``: the hash covers the sentence, the math options and every
    number (so your own embeddings or weights count too), but not quality, format or theme,
    so a re-render in another format lands beside the first, and one in the same format
    replaces it. Two sentences that share a slug never share a folder."""
    digest = hashlib.blake2b(to_json(trace).encode("utf-8"), digest_size=4).hexdigest()
    return Path(out) / f"{slug(trace.sentence)}-{digest}"


def _reason(err: OSError) -> str:
    return err.strerror or err.__class__.__name__


def check_out(out: Path) -> None:
    """Refuse, before anything is rendered, an ``--out`` that cannot be a folder we write in:
    a file, or a folder that cannot be created (``/proc/qkv``) or written to. Folders made to
    find out are removed again, if still empty: a refused command leaves nothing behind.

    Safe when other qkv processes check and fill the same new ``--out`` at the same moment:
    a folder another made first is theirs (never removed here), one they filled is left, and
    one that another removed between the steps is made again."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise QKVError(f"--out {str(out)!r} is a file; pass a folder")
    made: list[Path] = []
    try:
        for attempt in range(3):
            try:
                for folder in reversed([out, *out.parents]):
                    try:
                        folder.mkdir()
                        made.append(folder)
                    except FileExistsError:
                        if not folder.is_dir():
                            raise
                tempfile.TemporaryFile(dir=out).close()
                break
            except FileNotFoundError:  # another check removed a folder it had made
                if attempt == 2:
                    raise
    except OSError as err:
        raise QKVError(f"cannot write in --out {str(out)!r} ({_reason(err)}); pick a folder "
                       "you can write to") from None
    finally:
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:  # not empty (another render is writing there) or gone: theirs
                break


FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, over quota
LOW_SPACE = 256 * 1024  # bytes free under which a failed write is taken for a full disk


class NoSpace(QKVError):
    """A full disk (or quota) while writing ``path``: one line that names it."""

    def __init__(self, path, fix: str = "free some space or pick another --out"):
        self.path, self.fix = str(path), fix
        super().__init__(f"no space left on device while writing {path}; {fix}")

    def __reduce__(self):  # from a worker process: made again from its parts, not its text
        return type(self), (self.path, self.fix)


def no_space(path) -> NoSpace:
    return NoSpace(path)


def out_of_space(err: BaseException, where: Path) -> QKVError | None:
    """The one-line error for ``err`` if it came from a full disk while writing in ``where``:
    an OSError saying so, or any failure (Manim parsing the empty SVG a full disk left) while
    the disk under ``where`` has almost nothing free; else None."""
    if isinstance(err, OSError) and err.errno in FULL:
        return no_space(err.filename or where)
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return None
    return no_space(where) if free < LOW_SPACE else None


def check_folder(path: Path) -> Path:
    """The folder an ``--output`` file goes in; it must exist."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise QKVError(f"the folder {str(folder)!r} does not exist; create it or pick another "
                       "--output")
    return folder


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so ``path`` is never half-written.
    A path that cannot be written is one line that names it."""
    folder = check_folder(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as err:
        raise QKVError(f"cannot write {str(path)!r} ({_reason(err)}); pick another "
                       "--output") from None
    try:
        if isinstance(data, str):
            data = data.encode("utf-8")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it private)
        os.replace(tmp, path)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise QKVError(f"--output {str(path)!r} is a folder; name a file") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_owner() -> str:
    """Who a temporary folder belongs to: the process that the user started (workers inherit
    its id), so after an interrupt it can sweep what its workers could not."""
    return os.environ.get("QKV_RENDER_OWNER") or str(os.getpid())


LOCK = ".owner.lock"  # in a work folder: locked by the process working in it while it lives
_HELD: dict[str, int] = {}  # work folder -> the lock's descriptor, in this process


def work_folder(folder: Path) -> Path:
    """A new temporary folder for this process's render, locked (an flock the kernel lets go
    when the process ends, however it ends): another render sweeps it only once it is free."""
    import fcntl

    work = Path(tempfile.mkdtemp(prefix=f".rendering-{render_owner()}-", dir=folder))
    fd = os.open(work / LOCK, os.O_CREAT | os.O_WRONLY, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[str(work)] = fd
    return work


def remove_work(work: Path) -> None:
    """Remove a work folder of this process, and let go of its lock."""
    shutil.rmtree(work, ignore_errors=True)
    fd = _HELD.pop(str(work), None)
    if fd is not None:
        os.close(fd)


def sweep(trace: AttentionTrace, out: Path) -> None:
    """Remove this render's temporary folders (after an interrupt, for what workers left)."""
    for leftover in output_folder(trace, out).glob(f".rendering-{render_owner()}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process, alive
        return True
    return True


def sweep_dead(folder: Path) -> None:
    """Remove the temporary folders of renders whose process is gone (killed, or the machine
    went down): those whose lock nobody holds (a process of another container or machine
    sharing the folder holds its own), or, without a lock file yet, whose pid is not a
    process here. Nothing of theirs was ever under a final name; this only frees the
    space."""
    import fcntl

    for leftover in folder.glob(".rendering-*-*"):
        if str(leftover) in _HELD:
            continue  # this process's own
        try:
            fd = os.open(leftover / LOCK, os.O_RDONLY)
        except FileNotFoundError:
            owner = leftover.name.split("-")[1]
            if owner.isdigit() and not alive(int(owner)):
                shutil.rmtree(leftover, ignore_errors=True)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: its render is alive
        else:
            shutil.rmtree(leftover, ignore_errors=True)
        finally:
            os.close(fd)


@dataclass
class Staging:
    """A render in progress: the sentence's ``folder``, a temporary folder ``work`` inside it,
    and the (file in work, final path) ``pairs`` to rename into place when all went well."""

    folder: Path
    work: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    remove: list[Path] = field(default_factory=list)  # more temporary folders to remove
    written: list[Path] = field(default_factory=list)  # the final paths, once renamed


@contextmanager
def staging(trace: AttentionTrace, out: Path):
    """Stage a render into ``output_folder(trace, out)``. Leaving normally renames the pairs
    into place (a folder replaces a folder); leaving by an error or an interrupt renames
    nothing. Either way the temporary folders go, and the sentence's folder too if this
    render made it and wrote nothing."""
    folder = output_folder(trace, out)
    created, made_root = not folder.exists(), not Path(out).exists()
    for attempt in range(3):  # another process's check_out may remove an empty parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    sweep_dead(folder)
    stage = Staging(folder, work_folder(folder))
    try:
        try:
            yield stage
        except Exception as err:
            full = out_of_space(err, folder)
            if full is not None:
                raise full from None
            raise
        for src, dst in stage.pairs:
            if src.is_dir() and dst.is_dir():  # the old folder goes with the temporary one
                os.replace(dst, src.with_name(f".old-{dst.name}"))
            os.replace(src, dst)
            stage.written.append(dst)
    finally:
        for w in (stage.work, *stage.remove):
            remove_work(w)
        if created and not stage.written:
            for made in (folder, Path(out)) if made_root else (folder,):
                try:
                    made.rmdir()  # only if empty: another render may be working in it
                except OSError:
                    break
