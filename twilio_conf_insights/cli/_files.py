"""Output files: where ``-o PATH`` writes, and in which format.

What is at ``PATH`` decides how it is written, so that an export never destroys it:

* ``-`` is standard output;
* a regular file, or nothing yet, is written **atomically**: a hidden temporary file in the
  same directory, fsync, rename over the target. The replaced file's permission bits (and,
  when run as root, its owner) are kept: an export holds phone numbers, and a file the
  user made private stays private. An interrupted export leaves the old file as it was;
* a symlink is followed (its whole chain) and its *target* is replaced atomically: the
  link stays a link;
* a FIFO, a character or block device, a socket — anything that is not a regular file —
  is written into directly and never replaced (``-o /dev/stdout``, a named pipe);
* a directory, or a path ending in ``/``, is an error.

Errors name the user's path, never the temporary name. The format follows the extension
(``.jsonl``, ``.json`` — one JSON array —, ``.csv``) or ``--format``; a path without an
extension (``-``, a pipe) defaults to JSON Lines, and an extension that disagrees with
``--format``, or that names no format we write, is a usage error rather than a silent
JSON Lines file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import TextIO

from .._errors import InvalidArgumentError

__all__ = ["EXPORT_FORMATS", "atomic_output", "infer_format", "open_output"]

#: The export formats, by the extension that selects them.
EXPORT_FORMATS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv"}


def infer_format(path: str, requested: str | None) -> str:
    """The export format for ``path``: from ``--format`` and the extension, which must agree.

    Raises :class:`InvalidArgumentError` for a path that names a directory, for an
    extension we do not write (unless ``--format`` says what to write), and for an
    extension that contradicts ``--format``.
    """
    if path != "-" and (path.endswith(("/", os.sep)) or os.path.isdir(path)):
        raise InvalidArgumentError(f"-o/--output: {path!r} is a directory; give a file name")
    extension = os.path.splitext(path)[1].lower() if path != "-" else ""
    implied = EXPORT_FORMATS.get(extension)
    if requested is not None:
        if implied is not None and implied != requested:
            raise InvalidArgumentError(
                f"-o/--output: {path!r} says {implied}, but --format says {requested}"
            )
        return requested
    if implied is not None:
        return implied
    if extension:
        known = ", ".join(EXPORT_FORMATS)
        raise InvalidArgumentError(
            f"-o/--output: cannot tell the format of {path!r} (use {known}, or --format)"
        )
    return "jsonl"


def _named(error: OSError, path: str) -> OSError:
    """The same error, naming the user's path instead of whatever name it carried."""
    return OSError(error.errno, error.strerror or str(error), path)


@contextlib.contextmanager
def open_output(path: str, stdout: TextIO) -> Iterator[TextIO]:
    """A UTF-8 text stream for ``-o PATH``, handled as the module documentation says."""
    if path == "-":
        yield stdout
        stdout.flush()
        return
    real = os.path.realpath(path)
    try:
        info: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise _named(error, path) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise _named(IsADirectoryError(21, "Is a directory"), path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _direct_output(real, path) as stream:
            yield stream
        return
    with atomic_output(real, shown_as=path, keep=info) as stream:
        yield stream


@contextlib.contextmanager
def _direct_output(real: str, path: str) -> Iterator[TextIO]:
    """Write into a FIFO or device as it is: no create, no truncate, no rename."""
    try:
        fd = os.open(real, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise _named(error, path) from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
    except BrokenPipeError:
        raise
    except OSError as error:  # e.g. ENOSPC from a full device, reported at flush
        raise _named(error, path) from None


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    # os.open with mode 0o666 rather than tempfile.mkstemp (always 0o600): a new export
    # gets the permissions any new file of the user gets (the umask applies).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(17, "could not create a temporary file next to it")


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, shown_as: str | None = None, keep: os.stat_result | None = None
) -> Iterator[TextIO]:
    """A UTF-8 text stream whose content appears at ``path`` only if the block completes.

    On any exception (including ``KeyboardInterrupt`` and task cancellation) the temporary
    file is removed and ``path`` is left as it was. ``keep`` is the stat of the file being
    replaced, whose mode (and owner, when we may set it) the new file gets; errors name
    ``shown_as`` (default: ``path``).
    """
    target = os.path.abspath(os.fspath(path))
    shown = shown_as if shown_as is not None else os.fspath(path)
    directory, name = os.path.split(target)
    try:
        fd, temporary = _create_temp(directory, name)
    except OSError as error:
        raise _named(error, shown) from None
    try:
        if keep is not None:
            os.fchmod(fd, stat.S_IMODE(keep.st_mode))
            if (keep.st_uid, keep.st_gid) != (os.geteuid(), os.getegid()):
                # Only root may give a file away; anyone else keeps the file as theirs.
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, keep.st_uid, keep.st_gid)
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            # On disk before the rename: a crash right after must not leave an empty file.
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.filename in (None, temporary, target):
            raise _named(error, shown) from None
        raise
