"""The one way this pack writes a file: readers see the old file or the new one, never half of one.

atomic_path() checks the target first (not a folder, not a device or pipe, not one of the command's own
inputs), creates missing parent folders, hands out `NAME.partial` beside it to write to, and renames it
over the target only once the write finished. The new file gets the mode a plain open() would give
(0644 under umask 022; some writers, e.g. safetensors >= 0.8, create 0600 files). A failed write removes
the partial file and raises one UsageError naming the path and the cause (permission, no space, ...).
"""
from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import FaceCLIPError, UsageError

PARTIAL_SUFFIX = ".partial"
_IO_FAILURE = re.compile(r"I/O error|os error \d+|fail\w* (?:to )?writ|No space left", re.IGNORECASE)
_OS_ERROR_NUMBER = re.compile(r"os error (\d+)")
_CAUSES = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space or write elsewhere",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EROFS: "the file system is read-only; choose another folder",
    errno.EFBIG: "the file is larger than this file system or process allows",
    errno.ENOTDIR: "a part of the folder path is a file, not a folder",
    errno.EEXIST: "a part of the folder path is a file, not a folder",
}


def write_error(path: Path, exc: BaseException) -> UsageError:
    """The message for a failed write of `path`: the cause in words, and what the system said."""
    found = _OS_ERROR_NUMBER.search(str(exc))
    code = getattr(exc, "errno", None) or (int(found.group(1)) if found else None)
    said = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    cause = _CAUSES.get(code, said)
    return UsageError(f"Cannot write {path}: {cause}" + (f" ({said})." if cause != said else "."))


def check_target(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """The path to write (a symbolic link's target); UsageError for a folder, a device/pipe/socket or an input."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    if target.is_dir():
        raise UsageError(f"Cannot write {path}: it is a folder. Give a file name, e.g. {path / 'out.safetensors'}.")
    if target.exists() and not target.is_file():
        raise UsageError(f"Cannot write {path}: it is not a regular file (a device, pipe or socket), and it is "
                         "left as it is. Give the path of a file.")
    nearest = next((folder for folder in target.parents if folder.exists()), None)
    if nearest is not None and not nearest.is_dir():
        raise UsageError(f"Cannot write {path}: a part of the folder path is a file ({nearest}). Give a path in a folder.")
    for source in inputs:
        if source is not None and target.exists() and Path(source).exists() and os.path.samefile(source, target):
            raise UsageError(f"Cannot write {path}: it is also an input of this command ({source}), which the "
                             "output would replace. Give another output path.")
    return target


@contextmanager
def atomic_path(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yields `PATH.partial` to write to; it replaces `path` once the block ends without error.

    `inputs` are the files the output is made from: writing over one of them is refused.
    """
    target = check_target(path, inputs)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)  # left by a killed run
        # created here with the mode a plain open() gives, so the umask decides it, whatever the writer does
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        mode = partial.stat().st_mode & 0o777
        yield partial
        os.chmod(partial, mode)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())  # on disk before the rename, so a power cut cannot leave an empty file
        os.replace(partial, target)
    except FaceCLIPError:
        raise
    except Exception as exc:
        # writers report a failed write in their own way: OSError, torch's RuntimeError ("failed writing file"),
        # safetensors' SafetensorError ("I/O error: File too large (os error 27)")
        if not isinstance(exc, OSError) and not _IO_FAILURE.search(str(exc)):
            raise
        raise write_error(target, exc) from exc
    finally:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass  # e.g. the folder is not writable: nothing was created there either


def write_bytes(path: str | os.PathLike, data: bytes, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write `data` to `path` atomically; returns the path written."""
    with atomic_path(path, inputs) as partial:
        partial.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path written."""
    return write_bytes(path, text.encode("utf-8"), inputs)
