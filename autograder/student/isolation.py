"""One isolation domain per submission, built by unprivileged system calls inside the grading sandbox.

The zygote (autograder.student.zygote) forks a monitor per submission; the monitor calls :func:`new_namespaces` and
:func:`enter_private_filesystem`, spawns the namespace's init and forks the submission's process, which calls
:func:`drop_privileges` (and the rest below) before it reads anything of the submission. Then the submission has:

* its own user namespace (uid 0 inside, mapped to the sandbox's unprivileged uid outside, no capability left),
* its own PID namespace (when its init ends, with the monitor, the kernel kills every process in it),
* its own mount namespace with a fresh, size-limited tmpfs on /tmp (its working directory and HOME) and on
  /dev/shm (POSIX shared memory and semaphores), which no other submission ever sees,
* its own IPC namespace (System V shared memory, message queues and semaphores die with it),
* its own network namespace (no network; abstract unix sockets are private to it), UTS namespace and a fresh
  session keyring.

With every capability dropped (bounding set included, securebits locked) it can neither unmount these file
systems to look underneath nor mount new ones. Measured: a few milliseconds per submission, beyond the two copies
of the zygote's memory (the monitor and the submission's process) that each job costs anyway.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 1, 2, 4, 1 << 14, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT = 1, 4, 24, 28, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE and their locks, and KEEP_CAPS_LOCKED: an execve as uid 0 regains
# nothing
SECUREBITS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7)
KEYCTL_JOIN_SESSION_KEYRING = 1
SYS_KEYCTL_BY_MACHINE = {"x86_64": 250, "aarch64": 219}

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise IsolationError(errno, f"{what}: {os.strerror(errno)}")


def new_namespaces() -> None:
    """In the monitor: new user, mount, IPC, network, UTS and PID namespaces (the PID namespace applies to the
    children forked afterwards), with this process's uid and gid mapped to 0 inside."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWPID),
           "unshare")
    set_dumpable(True)  # a non-dumpable process's /proc files belong to root: it could not write its own maps
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    finally:
        set_dumpable(False)  # nothing of the same uid may ptrace the monitor


def set_dumpable(dumpable: bool) -> None:
    _check(_libc.prctl(PR_SET_DUMPABLE, int(dumpable), 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def die_with_parent(signal_number: int) -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def enter_private_filesystem(tmp_bytes: int, shm_bytes: int, hide: tuple[str, ...] | list[str] = ()) -> None:
    """In the submission's first process: mounts made here stay here; fresh tmpfs on /tmp and /dev/shm, and an
    empty read-only one over each existing folder of ``hide``."""
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for folder in hide:
        if os.path.isdir(folder):
            _check(_libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY,
                               b"size=4k,mode=0755"), f"mount tmpfs {folder}")
    _check(_libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777".encode()),
           "mount tmpfs /tmp")
    if os.path.isdir("/dev/shm"):
        _check(_libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV,
                           f"size={shm_bytes},mode=1777".encode()), "mount tmpfs /dev/shm")


def new_session_keyring() -> None:
    """A fresh anonymous session keyring: keys a submission adds are not in the keyring the next one inherits."""
    machine = os.uname().machine
    number = SYS_KEYCTL_BY_MACHINE.get(machine)
    if number is None:
        raise IsolationError(0, f"no keyctl system call number known for {machine}")
    key = _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)
    if key < 0:
        errno = ctypes.get_errno()
        raise IsolationError(errno, f"keyctl(JOIN_SESSION_KEYRING): {os.strerror(errno)}")


def drop_privileges() -> None:
    """Drop every capability (effective, permitted, inheritable, ambient, bounding) and lock the securebits."""
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for capability in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), f"drop capability {capability}")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    _check(_libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0), "lock securebits")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3, all zero
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def prefer_oom_kill() -> None:
    """The memory limit's OOM killer takes this process tree first, never the zygote."""
    with open("/proc/self/oom_score_adj", "w") as handle:
        handle.write("1000")


# ------------------------------------------------------------------------------------------------------------
# Landlock: where no bubblewrap sandbox exists (a student's laptop running `check`), the process that runs the
# notebook may write only beneath its private folder, and cannot signal or ptrace anything outside itself
# ------------------------------------------------------------------------------------------------------------
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every arch
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
# write-type file system rights by the ABI version that introduced them: write a file, remove a folder or a file,
# make a character device, folder, regular file, socket, fifo, block device or symbolic link (1); link or rename
# across folders (2); truncate (3); device ioctls (5)
LANDLOCK_WRITE_RIGHTS = {1: (1 << 1) | (1 << 4) | (1 << 5) | (0x7F << 6), 2: 1 << 13, 3: 1 << 14, 5: 1 << 15}
LANDLOCK_ACCESS_FS_WRITE_FILE = 1 << 1
LANDLOCK_SCOPES = 3  # ABI 6: abstract unix sockets and signals stay inside the domain
LANDLOCK_NET_TCP = 3  # ABI 4: bind and connect TCP ports, handled with no rule: denied


def landlock_version() -> int:
    """The kernel's Landlock ABI version (0: none)."""
    _libc.syscall.restype = ctypes.c_long
    version = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(0, int(version))


def restrict_writes(writable: list[str], devices: list[str] = ("/dev/null",)) -> int:
    """From now on this process and its children may create, change or remove files only beneath ``writable``
    (and write to the device files ``devices``: /dev/null, not a terminal), may not open or accept TCP connections
    (ABI 4), and (ABI 6) may not signal processes or reach abstract unix sockets outside their own domain; a
    Landlocked process can never ptrace one outside it. Reading stays allowed. Returns the ABI version used; raises
    IsolationError where Landlock is missing."""
    version = landlock_version()
    if version < 1:
        raise IsolationError(0, "Landlock is not available in this kernel")
    rights = 0
    for since, bits in LANDLOCK_WRITE_RIGHTS.items():
        if version >= since:
            rights |= bits

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(rights, LANDLOCK_NET_TCP if version >= 4 else 0, LANDLOCK_SCOPES if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = int(_libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                                ctypes.c_uint32(0)))
    if ruleset < 0:
        errno = ctypes.get_errno()
        raise IsolationError(errno, f"landlock_create_ruleset: {os.strerror(errno)}")
    try:
        device_rights = LANDLOCK_ACCESS_FS_WRITE_FILE | (LANDLOCK_WRITE_RIGHTS[3] if version >= 3 else 0)
        for paths, allowed in ((writable, rights), (devices, device_rights)):
            for path in paths:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    rule = PathBeneath(allowed, fd)
                    _check(int(_libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                                             ctypes.byref(rule), ctypes.c_uint32(0))), f"landlock_add_rule {path}")
                finally:
                    os.close(fd)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(int(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return version
