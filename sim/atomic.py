"""Writing outputs: checked before the work, whole or not at all, never over someone else's.

Every output (a results folder, a fitted scenario, an export, a picture) goes through here:

1. :func:`check_output_folder` / :func:`check_output_file` run before any work: a symbolic
   link, a path under a file, a name too long, a folder that cannot be written or a full disk is
   a :class:`sim.errors.OutputError` (exit 2) naming the path and why.
2. The output is written under a temporary name next to the target (the same file system, so
   the final rename is atomic): ``.NAME~dealsim-HOST-PID-TOKEN.tmp``. Files and folders are
   created with the usual modes (the umask applies, as to any file).
3. Publishing decides, atomically, at the end: a rename onto nothing (or onto an empty folder)
   succeeds; onto a folder or file that another run filled meanwhile it fails, and this run's
   output is dropped with a clear message, unless ``force``. ``force`` swaps the new folder in
   and the old one out in one step (``RENAME_EXCHANGE`` on Linux, else two renames that no
   stop signal can split), then removes the old one: there is always one complete folder.
4. A run that died without cleaning up (``kill -9``, power loss) leaves its temporary entries;
   the next check of the same folder removes those whose process is gone (:func:`clean_stale`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sim import signals
from sim.errors import OutputError, UserError, set_report_folder

#: Refuse to start writing into a file system with less free space than this.
MIN_FREE_BYTES = 1 << 20
#: Suffixes tried for a default folder name already taken: NAME-2, NAME-3, ...
MAX_SUFFIX = 1000

_MARK = "~dealsim-"
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TEMP = re.compile(
    r"^\.(?P<name>.*)~dealsim-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}"
    r"\.(?P<kind>tmp|old)(?:\.[^.]*)?$"
)
_LEGACY_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")  # written before this module
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY)


# ---------------------------------------------------------------------------------------------
# Checks before the work
# ---------------------------------------------------------------------------------------------


def check_output_folder(
    path: Path, force: bool = False, unique: bool = False, inputs: Iterable[Path] = ()
) -> None:
    """Refuse, before any work, a results folder that cannot or must not be written.

    ``inputs``: the files the command reads (its scenario, a CRM export); replacing a folder
    that holds one would delete it.

    Raises:
        OutputError: a symlink, a file, a non-empty folder without ``force``, a non-empty
            folder that holds no dealsim results or holds one of ``inputs``, or a place that
            cannot be written (see :func:`check_output_file`).
    """
    path = Path(path)
    _check_place(path)
    _check_inputs_outside(path, inputs)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: output path exists and is not a folder")
    if path.is_dir() and not unique and any(path.iterdir()):  # unique: the next name is taken
        if not force:
            raise OutputError(
                f"{path}: output folder exists and is not empty (use --force to replace it)"
            )
        # --force replaces results, not whatever else a folder holds (a project folder, the
        # scenario being run): every results folder dealsim writes has a manifest.json that
        # names the dealsim which wrote it (a web app's or an extension's has another).
        why = _not_results_because(path / "manifest.json")
        if why:
            raise OutputError(
                f"{path}: not a dealsim results folder ({why}); --force replaces dealsim "
                "results folders only: choose another output folder"
            )


def _not_results_because(manifest: Path) -> str | None:
    """Why ``manifest`` is not the manifest.json of a dealsim results folder, or None."""
    if not manifest.is_file():
        return "no manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its manifest.json is not dealsim's: not JSON text"
    if not isinstance(data, dict) or "dealsim_version" not in data:
        return "its manifest.json is not dealsim's: no dealsim_version"
    return None


def _check_inputs_outside(folder: Path, inputs: Iterable[Path]) -> None:
    if not folder.is_dir():
        return
    inside = folder.resolve()
    for given in inputs:
        if Path(given).is_file() and inside in Path(given).resolve().parents:
            raise OutputError(
                f"{folder}: output folder holds {given}, which this command reads; replacing "
                "the folder would delete it: choose another output folder"
            )


def check_output_file(path: Path, force: bool = False, inputs=()) -> None:
    """Refuse, before any work, an output file that cannot or must not be written.

    Raises:
        OutputError: ``path`` is a symbolic link (even a dangling one: it would be written
            through), a folder, or an existing file without ``force``; it lies under a file;
            a name in it is too long; its folder cannot be written or its disk is full; it is
            one of ``inputs``, the files the command reads (``force`` or not).
    """
    from sim.results import RUN_FILES  # here: sim.results builds on this module

    path = Path(path)
    _check_place(path)  # first: a name too long cannot even be looked up
    for given in inputs:
        if path.exists() and Path(given).exists() and os.path.samefile(path, given):
            raise OutputError(
                f"{path}: is {given}, which this command reads; writing it would replace it "
                "(--force or not): choose another name"
            )
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if path.name in RUN_FILES and not _not_results_because(path.parent / "manifest.json"):
        # --force or not, and whether the file is there or not: the folder's results would
        # then belong to another scenario (explain and report re-read scenario.toml) or to no
        # run at all (a pipeline.csv put beside a run's files is not the deals it ran).
        raise OutputError(
            f"{path}: a file of the dealsim results folder {path.parent}, which its results "
            "depend on; write it elsewhere"
        )
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists (use --force to replace it)")


def _check_place(path: Path) -> None:
    """What files and folders share: the path itself, its folder, its disk."""
    folder = _existing_folder(path)
    _check_names(path, folder)
    if path.is_symlink():
        target = os.readlink(path)
        dangling = "" if path.exists() else ", which does not exist"
        raise OutputError(
            f"{path}: is a symbolic link (to {target}{dangling}); dealsim does not write "
            "through links: give the real path"
        )
    _check_writable(path, folder)
    set_report_folder(folder)
    clean_stale(folder)


def _existing_folder(path: Path) -> Path:
    """The nearest existing folder above ``path``, where its temporary twin will be made.

    Raises:
        OutputError: a file or a dangling symbolic link on the way.
    """
    absolute = Path(os.path.abspath(path))
    for candidate in absolute.parents:
        if not os.path.lexists(candidate):
            continue
        if candidate.is_symlink() and not candidate.exists():
            raise OutputError(
                f"{path}: {candidate} is a symbolic link to {os.readlink(candidate)}, "
                "which does not exist"
            )
        if not candidate.is_dir():
            raise OutputError(f"{path}: {candidate} is a file, not a folder")
        return candidate
    return Path(absolute.anchor)


def _check_names(path: Path, folder: Path) -> None:
    name_max = _limit(folder, "PC_NAME_MAX", 255)
    for part in Path(os.path.abspath(path)).parts:
        if len(os.fsencode(part)) > name_max:
            raise OutputError(
                f"{path}: the name {part[:24]}... is too long ({len(os.fsencode(part))} "
                f"bytes; this file system allows {name_max})"
            )
    path_max = _limit(folder, "PC_PATH_MAX", 4096)
    if len(os.fsencode(os.path.abspath(path))) >= path_max:
        raise OutputError(f"{path}: the path is too long (this file system allows {path_max})")


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):
        return default


def _check_writable(path: Path, folder: Path) -> None:
    """Create and remove a folder where the output will go: the only sure test (root ignores
    permission bits, and a file system may be read-only or refuse new entries)."""
    probe = folder / temp_name("probe", "tmp")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:  # /proc, /sys: existing folders that take no new entry
            reason = "this folder does not take new files"
        raise OutputError(f"{path}: cannot write in {folder} ({reason})") from None
    with contextlib.suppress(OSError):
        stat = os.statvfs(folder)
        if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES:
            raise OutputError(f"{path}: the disk of {folder} is full")


# ---------------------------------------------------------------------------------------------
# Temporary names and what is left of runs that died
# ---------------------------------------------------------------------------------------------


def temp_name(name: str, kind: str = "tmp", suffix: str = "") -> str:
    """``.NAME~dealsim-HOST-PID-TOKEN.KIND[SUFFIX]``: hidden, ours, and whose (for clean-up).

    The suffix keeps a picture's extension (matplotlib picks the format from it); the name is
    shortened so that the whole fits in a file name.
    """
    tag = f"{_MARK}{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.{kind}{suffix}"
    room = 255 - 1 - len(tag.encode())
    short = name.encode()[: max(0, room)].decode(errors="ignore")
    return f".{short}{tag}"


def clean_stale(folder: Path) -> list[Path]:
    """Remove the temporary entries in ``folder`` of dealsim runs that died; returns them.

    An entry is stale when it was made on this machine by a process that no longer exists. A
    folder moved aside by a forced replace (``.old``) whose target is missing is put back: the
    run died between the two renames, and it holds the only copy of the old results.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        found = _TEMP.match(entry.name)
        if found is not None:
            if found["host"] != _HOST or _alive(int(found["pid"])):
                continue
            target = entry.with_name(found["name"])
            if found["kind"] == "old" and not os.path.lexists(target):
                with contextlib.suppress(OSError):
                    os.rename(entry, target)
                continue
        else:
            legacy = _LEGACY_TEMP.match(entry.name)
            if legacy is None or not entry.is_dir() or _alive(int(legacy["pid"])):
                continue
        _remove(entry)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def _remove(path: Path) -> None:
    """Remove a file or a folder tree (links are removed, never followed)."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


# ---------------------------------------------------------------------------------------------
# Errors while writing
# ---------------------------------------------------------------------------------------------


def as_output_error(exc: OSError, target: Path) -> OutputError:
    """A write that failed (disk full, folder removed...) as one clear message."""
    where = exc.filename or target
    return OutputError(
        f"{target}: could not write {where} ({exc.strerror or exc}); nothing was kept"
    )


@contextlib.contextmanager
def output_errors(target: Path) -> Iterator[None]:
    """Turn an ``OSError`` of the block into an :class:`OutputError` about ``target``."""
    try:
        yield
    except UserError:
        raise
    except OSError as exc:
        raise as_output_error(exc, target) from None


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------


class StagedFolder:
    """A results folder written under a temporary name and published whole.

    ``with StagedFolder(target) as tmp:`` writes into ``tmp`` and publishes at the end of the
    block; an exception removes ``tmp`` and leaves ``target`` as it was. ``published`` is the
    folder it became (``unique`` may have added a suffix).

    Args:
        target: the folder to create.
        force: replace a folder that has something in it (atomically, see the module).
        unique: ``target`` is a default name: take ``target-2``, ``target-3``... if it is taken.
    """

    def __init__(self, target: Path, force: bool = False, unique: bool = False):
        self.target = Path(target)
        self.force, self.unique = force, unique
        check_output_folder(self.target, force, unique)  # a default name taken: the next
        self.tmp: Path | None = None
        self.published: Path | None = None
        self.made_parents: list[Path] = []  # made for this run: removed again if it fails

    def open(self) -> Path:
        """Create the temporary folder (with the umask's mode, like ``mkdir``)."""
        with output_errors(self.target):
            missing = [p for p in self.target.absolute().parents if not p.exists()]
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.made_parents = missing  # deepest first
            tmp = self.target.parent / temp_name(self.target.name)
            os.mkdir(tmp)
        self.tmp = tmp
        return tmp

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.publish()
            return
        self.discard()
        if isinstance(exc, OSError):
            raise as_output_error(exc, self.target) from None

    def publish(self) -> Path:
        """Move the temporary folder into place; see the module for the rules."""
        assert self.tmp is not None, "open() first"
        try:
            with output_errors(self.target):
                self.published = _publish_folder(self.tmp, self.target, self.force, self.unique)
        except BaseException:
            self.discard()
            raise
        return self.published

    def discard(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for parent in self.made_parents:  # deepest first; one that has gained files stays
            try:
                parent.rmdir()
            except OSError:
                break


def atomic_folder(target: Path, force: bool = False, unique: bool = False) -> StagedFolder:
    """``with atomic_folder(target) as tmp:`` - see :class:`StagedFolder`."""
    return StagedFolder(target, force, unique)


def _publish_folder(tmp: Path, target: Path, force: bool, unique: bool) -> Path:
    names = [target]
    if unique:
        names += [target.with_name(f"{target.name}-{i}") for i in range(2, MAX_SUFFIX)]
    for name in names:
        try:
            with signals.held():
                os.rename(tmp, name)  # onto nothing or an empty folder: never over results
            return name
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                raise OutputError(f"{name}: output path exists and is not a folder") from None
            if exc.errno not in _TAKEN:
                raise
        if force and not unique:
            _replace_folder(tmp, name)
            return name
        if not unique:
            raise OutputError(
                f"{name}: another run wrote results there while this one was running; they "
                "were left as they are and this run's results were not kept (use --force to "
                "replace them)"
            )
    raise OutputError(f"{target}: every name up to {names[-1].name} is taken")


def _replace_folder(new: Path, target: Path) -> None:
    """Swap ``new`` in for the folder ``target``, then remove the old one."""
    with signals.held():
        if _exchange(new, target):
            old = new  # the swap left the old folder under the temporary name
        else:  # two renames; a run that dies between them is undone by clean_stale
            old = _move_aside(target)
            os.rename(new, target)
    _remove_tree(old)


def _move_aside(target: Path) -> Path:
    """Rename ``target`` to a hidden ``.old`` name that :func:`clean_stale` can put back."""
    old = target.with_name(temp_name(target.name, "old"))
    os.rename(target, old)
    return old


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


_RENAME_EXCHANGE = 2
_RENAME_NOREPLACE = 1


def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """Linux's renameat2; False where it is missing or the file system does not support it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if call(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def _exchange(a: Path, b: Path) -> bool:
    return _renameat2(a, b, _RENAME_EXCHANGE)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


class StagedFile:
    """A file written under a temporary name next to ``path``, then published whole.

    Without ``replace``, publishing fails if ``path`` appeared meanwhile (a hard link cannot
    be made onto an existing name), so two writers never overwrite each other silently. With
    it, ``path`` is replaced by a rename: a symlink there is replaced, not written through.
    """

    def __init__(self, path: Path, replace: bool = False):
        self.path = Path(path)
        self.replace = replace
        self.tmp: Path | None = None

    def open(self) -> Path:
        with output_errors(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.parent / temp_name(self.path.name, "tmp", self.path.suffix)
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        self.tmp = tmp
        return tmp

    def publish(self) -> Path:
        assert self.tmp is not None, "open() first"
        try:
            with output_errors(self.path), signals.held():
                if self.replace:
                    os.replace(self.tmp, self.path)
                else:
                    _link_no_replace(self.tmp, self.path)
        finally:
            self.discard()
        return self.path

    def discard(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)


def _link_no_replace(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise OutputError(
            f"{path}: was created by another program while this one ran; it was left as it is "
            "(use --force to replace it)"
        ) from None
    except OSError as exc:  # a file system without hard links (FAT, some network drives)
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    try:
        if _renameat2(tmp, path, _RENAME_NOREPLACE):
            return
    except FileExistsError:
        pass
    if os.path.lexists(path):
        raise OutputError(f"{path}: already exists (use --force to replace it)")
    os.replace(tmp, path)


def atomic_file(path: Path, write: Callable[[Path], None], replace: bool = True) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then publish it as ``path``.

    ``replace=False`` refuses to replace a file that exists when publishing (see
    :class:`StagedFile`). The temporary file keeps ``path``'s suffix (a picture's format).
    """
    staged = StagedFile(path, replace)
    tmp = staged.open()
    try:
        write(tmp)
    except OSError as exc:
        staged.discard()
        raise as_output_error(exc, Path(path)) from None
    except BaseException:
        staged.discard()
        raise
    return staged.publish()


@contextlib.contextmanager
def replacing_files_in(folder: Path) -> Iterator[Path]:
    """A temporary folder inside ``folder``; its files then replace their namesakes there.

    For redrawing the figures of an existing results folder: each file is renamed over the
    old one, so a symbolic link planted under a figure's name is replaced, not written
    through, and an interrupted redraw leaves every figure old or new, never half drawn.
    """
    folder = Path(folder)
    with output_errors(folder):
        tmp = folder / temp_name("figures")
        os.mkdir(tmp)
    try:
        yield tmp
        with output_errors(folder), signals.held():
            for item in sorted(tmp.iterdir()):
                os.replace(item, folder / item.name)
    except OSError as exc:
        raise as_output_error(exc, folder) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
