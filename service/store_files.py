"""Low-level file operations of the model store: fsynced exclusive writes, reads that never
follow a symlink, the per-model locks, and the names of work-in-progress entries with what tells
a dead writer's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

VERSION_DIR = re.compile(r"[1-9][0-9]*")
ALIAS_LOCK, ALLOC_LOCK = ".aliases.lock", ".alloc.lock"


def origin() -> str:
    """Who may judge a pid: same host name, boot and pid namespace (containers differ)."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        with contextlib.suppress(OSError):
            parts.append(os.readlink(path) if path.endswith("/pid") else Path(path).read_text())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


ORIGIN = origin()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Create ``path`` (exclusively), write ``data`` and fsync it."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_nofollow(path: Path) -> bytes:
    """Read a regular file, refusing to follow a symlink (OSError ELOOP)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read()


@contextlib.contextmanager
def locked(model_dir: Path, name: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``model_dir/name`` (across processes), held for the block."""
    fd = os.open(model_dir / name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def is_kind(path: Path, kind: Callable[[int], bool] = stat.S_ISDIR) -> bool:
    """Whether ``path`` itself (never a symlink's target) is a dir (or ``kind``)."""
    try:
        return kind(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def version_markers(alloc: Path) -> list[int]:
    return [int(n) for n in os.listdir(alloc) if VERSION_DIR.fullmatch(n)]


def tmp_name(kind: str, tag: object) -> str:
    # ".<kind>-<tag>-<pid>-<rand>-<origin>": recover() judges the pid only if from our origin.
    return f".{kind}-{tag}-{os.getpid()}-{secrets.token_hex(4)}-{ORIGIN}"


def is_stale(entry: os.DirEntry[str], grace: float) -> bool:
    """A temp entry older than ``grace`` seconds or whose creator (same origin) is dead."""
    try:
        if time.time() - entry.stat(follow_symlinks=False).st_mtime > grace:
            return True
    except FileNotFoundError:
        return False
    _, _, pid, _, origin = (entry.name.split("-", 4) + [""] * 5)[:5]
    if origin != ORIGIN or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: the pid exists
        pass
    return False
