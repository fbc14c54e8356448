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
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 1 << 14, 1 << 18
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


def enter_private_filesystem(tmp_bytes: int, shm_bytes: int) -> None:
    """In the submission's first process: mounts made here stay here; fresh tmpfs on /tmp and /dev/shm."""
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
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
