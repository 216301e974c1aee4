"""Every file omdeploy writes goes through here: a temp file in the same folder, fsync, then os.replace.

A failure (full disk, no permission, an exception in the writer) leaves neither a partial nor an empty file,
and an existing file is replaced only by a complete new one. A disk that fills up becomes a UserError naming
the device and the path ("no space left on /dev/sda1 writing out/model.onnx"), not an internal error.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator, NoReturn, Union

from .errors import UserError

PathLike = Union[str, "os.PathLike[str]"]


def _device(folder: Path) -> str:
    """The mount point (and device, when /proc/mounts names it) holding `folder`."""
    path = folder.resolve()
    while not os.path.ismount(str(path)) and path.parent != path:
        path = path.parent
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 1 and fields[1] == str(path):
                    return "{} ({})".format(path, fields[0])
    except OSError:
        pass
    return str(path)


def user_error_for(exc: OSError, path: PathLike) -> UserError:
    """An OSError met while writing `path` as the one-line user error it is."""
    path = Path(path)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError("no space left on {} writing {}".format(_device(path.parent), path),
                         hint="free some space, or write to another disk")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError("cannot write {}: {}".format(path, exc.strerror or exc),
                         hint="check the folder's permissions, or write elsewhere")
    return UserError("cannot write {}: {}".format(path, exc.strerror or exc),
                     hint="check the path (a file, not a folder), its permissions and the free space")


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """`with atomic_open(p, "wb") as f: ...`: `p` appears, complete, only when the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes whole files: mode 'w' or 'wb', got {!r}".format(mode))
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=str(folder))
    except OSError as exc:
        raise user_error_for(exc, path) from None
    try:
        with (os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding=encoding)) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        _abandon(tmp, path, exc)
    _commit(tmp, path)


def _remove(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_with(path: PathLike, writer: Callable[[str], object], suffix: str = "") -> Path:
    """For libraries that only take a file name (onnx.save with external data, PIL's format by suffix):
    `writer(tmp_name)` writes a temp file beside `path`, which then replaces `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.stem + ".", suffix=".tmp" + (suffix or path.suffix),
                                   dir=str(path.parent))
        os.close(fd)
    except OSError as exc:
        raise user_error_for(exc, path) from None
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if os.path.getsize(tmp) == 0:
            raise UserError("writing {} produced an empty file".format(path))
    except BaseException as exc:
        _abandon(tmp, path, exc)
    _commit(tmp, path)
    return path


def _commit(tmp: str, path: Path) -> None:
    """Give the complete temp file its final permissions (those of the file it replaces, else the umask's)
    and rename it over `path`."""
    try:
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, str(path))
    except BaseException as exc:
        _abandon(tmp, path, exc)


def _abandon(tmp: str, path: Path, exc: BaseException) -> "NoReturn":
    """Remove the temp file and re-raise (an OSError as the user error it is)."""
    _remove(tmp)
    if isinstance(exc, OSError):
        raise user_error_for(exc, path) from None
    raise exc


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_sha256(path: PathLike) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (model files run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
