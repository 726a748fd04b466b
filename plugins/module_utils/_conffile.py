# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is not part of the collection's public API.
"""A daemon's config file on disk: every check before it is read or written and its message, in
one place; reading it safely; locking it; replacing it atomically (a temporary file in the same
directory, written and fsync'ed, given the original's mode, owner and SELinux label, renamed over
it), with a backup. The syntax of its text is _confsyntax's.

- Only a regular file is read (a FIFO would block, /dev/zero never ends), and at most
  MAX_CONFIG_BYTES of it, as libvirt itself reads at most that much.
- Edits of the config files of one directory are serialised with an flock on the directory
  (the file itself is replaced by each edit, so a lock on it would not hold), waited for at most
  the task's timeout; the text is read again under the lock, so that concurrent edits of
  different keys all land.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
import time

from ansible_collections.virtops.libvirt_admin.plugins.module_utils._admin import (
    ERR_INVALID_ARG,
    ERR_OPERATION_TIMEOUT,
    ERR_SYSTEM_ERROR,
    LibvirtAdminError,
)
from ansible_collections.virtops.libvirt_admin.plugins.module_utils._confsyntax import MAX_CONFIG_BYTES

NEW_FILE_MODE = 0o644
LOCK_INTERVAL = 0.05

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _become_hint() -> str:
    return "run the task as root (become: true) or as a user who may write there"


def _os_error(action: str, path: str, error: OSError) -> LibvirtAdminError:
    reason = error.strerror or str(error)
    hint = ""
    if isinstance(error, PermissionError):
        hint = f"; {_become_hint()}"
    elif error.errno == errno.EROFS:
        hint = "; the file system is read-only"
    return LibvirtAdminError(f"cannot {action} {path}: {reason}{hint}", ERR_SYSTEM_ERROR)


def _not_a_file(path: str, mode: int) -> LibvirtAdminError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return LibvirtAdminError(
        f"{path} is not a regular file ({kind}); give the path of the daemon's config file in config_file",
        ERR_INVALID_ARG,
    )


def _missing_directory(path: str, directory: str) -> LibvirtAdminError:
    return LibvirtAdminError(
        f"cannot create {path}: its directory {directory} does not exist (is libvirt installed on this host? "
        "or give the config_file the daemon reads)",
        ERR_INVALID_ARG,
    )


def _missing_file(path: str) -> LibvirtAdminError:
    return LibvirtAdminError(
        f"the config file {path} does not exist; set create: true to create it, or check the path "
        "(is the daemon installed on this host?)",
        ERR_INVALID_ARG,
    )


def read(path: str) -> str | None:
    """The text of the file at path (a symlink is followed), None when there is none. Anything but
    a regular file, a file larger than MAX_CONFIG_BYTES, or a file that cannot be read raises
    LibvirtAdminError saying why. Bytes that are not UTF-8 come back as surrogates (they are
    written back byte for byte)."""
    try:
        # O_NONBLOCK: opening a FIFO would wait for a writer otherwise.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ENOTDIR:
            return None
        raise _os_error("read", path, error) from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise _not_a_file(path, status.st_mode)
        if status.st_size > MAX_CONFIG_BYTES:
            raise LibvirtAdminError(
                f"{path} is {status.st_size} bytes, more than libvirt reads of a config file "
                f"({MAX_CONFIG_BYTES}); give the path of the daemon's config file in config_file",
                ERR_INVALID_ARG,
            )
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_CONFIG_BYTES:
            raise LibvirtAdminError(f"{path} grew beyond {MAX_CONFIG_BYTES} bytes while it was read", ERR_INVALID_ARG)
    except OSError as error:
        raise _os_error("read", path, error) from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def check_writable(path: str, exists: bool) -> None:
    """That the file (or, when it does not exist yet, its directory) can be written, before
    anything changes; else LibvirtAdminError naming the real cause."""
    target = os.path.realpath(path)
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise _missing_directory(path, directory)
    if os.access(directory, os.W_OK) and (not exists or os.access(target, os.W_OK)):
        return
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        why = "the file system is read-only"
    elif os.geteuid() == 0:
        why = "root may not write there (an immutable file, or a security policy)"
    else:
        why = f"no permission; {_become_hint()}, or give a config_file you may write"
    raise LibvirtAdminError(f"cannot write the config file {path}: {why}", ERR_SYSTEM_ERROR)


@contextlib.contextmanager
def locked(path: str, timeout: float):
    """An exclusive lock on the config files of path's directory, for at most timeout seconds of
    waiting (then LibvirtAdminError)."""
    directory = os.path.dirname(os.path.realpath(path)) or "."
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise _missing_directory(path, directory) from None
    except OSError as error:
        raise _os_error("lock", path, error) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LibvirtAdminError(
                        f"cannot lock {path}: another task has been editing the config files of {directory} "
                        f"for more than {timeout:g} s; run again when it is done",
                        ERR_OPERATION_TIMEOUT,
                    ) from None
                time.sleep(LOCK_INTERVAL)
        yield
    finally:
        os.close(fd)  # releases the lock


def backup_name(path: str) -> str:
    """<path>.<timestamp>~, as Ansible names its backups (with the pid too if that name is taken)."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S~")
    name = f"{path}.{stamp}"
    return f"{path}.{os.getpid()}.{stamp}" if os.path.lexists(name) else name


def _copy_security_context(source: str, target_fd: int) -> None:
    """Keep an SELinux label, where there is one (best effort)."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return
    with contextlib.suppress(OSError):
        os.setxattr(target_fd, "security.selinux", getxattr(source, "security.selinux"))


def write_atomically(path: str, text: str, backup: bool = False, create: bool = False):
    """Replace the file at path with text, atomically (a symlink is followed: its target is replaced).

    Returns the backup's path when backup is true (a copy of the original made first), else None;
    None too when the file holds text already (nothing is written then). A missing file is an error
    unless create is true; it is then created with mode 0644, owned by the user running this. Text
    is encoded as UTF-8 (surrogateescape: text read with it goes back byte for byte). Failures raise
    LibvirtAdminError saying what to do. The caller holds locked(path) when others may edit too."""
    target = os.path.realpath(path)
    data = text.encode("utf-8", "surrogateescape")
    try:
        status = os.stat(target)
    except FileNotFoundError:
        status = None
    except OSError as error:
        raise _os_error("read", path, error) from None
    if status is None:
        if not create:
            raise _missing_file(path)
        directory = os.path.dirname(target) or "."
        if not os.path.isdir(directory):
            raise _missing_directory(path, directory)
    else:
        if not stat.S_ISREG(status.st_mode):
            raise _not_a_file(path, status.st_mode)
        if read(target) == text:
            return None
        if not os.access(target, os.W_OK):
            raise LibvirtAdminError(
                f"cannot write {path}: permission denied; run the task as root (become: true) or as its owner",
                ERR_SYSTEM_ERROR,
            )
    saved = None
    if backup and status is not None:
        saved = backup_name(target)
        try:
            shutil.copy2(target, saved)
            if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(saved, status.st_uid, status.st_gid)
        except OSError as error:
            raise _os_error("back up", path, error) from None
    _replace(path, target, data, status)
    return saved


def _replace(path: str, target: str, data: bytes, status) -> None:
    directory = os.path.dirname(target) or "."
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as error:
        raise _os_error("write", path, error) from None
    try:
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                if status is None:
                    os.fchmod(stream.fileno(), NEW_FILE_MODE)
                else:
                    os.fchmod(stream.fileno(), status.st_mode & 0o7777)
                    if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
                        os.fchown(stream.fileno(), status.st_uid, status.st_gid)
                    _copy_security_context(target, stream.fileno())
                os.fsync(stream.fileno())
            os.rename(temporary, target)
        except OSError as error:
            raise _os_error("write", path, error) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    try:
        directory_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
