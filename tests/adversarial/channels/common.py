# Shared by leaker.py and searcher.py (embedded as a notebook cell in both). The marker is split in two halves
# so that the searcher, which must know it, never holds the whole marker itself: only the leaker's data does.
import ctypes
import os
import socket

MARK_HEAD = "ISOLATION-MARK"
MARK_TAIL = "-c0ffee-51d3"
SHM_KEY = 0x5EC2E7
MSG_KEY = 0x5EC2E8
SEM_KEY = 0x5EC2E9
ABSTRACT = "\0isolation-mark-abstract"
TCP_PORT = 47691
POSIX_NAME = "/isolation-mark"
KEY_DESCRIPTION = "isolation-mark-key"
IPC_CREAT, IPC_EXCL = 0o1000, 0o2000
libc = ctypes.CDLL(None, use_errno=True)


def marker() -> bytes:
    return (MARK_HEAD + MARK_TAIL).encode()


def keyctl_number() -> int:
    return {"x86_64": 250, "aarch64": 219}[os.uname().machine]


def add_key_number() -> int:
    return {"x86_64": 248, "aarch64": 217}[os.uname().machine]


def skip_dir(path: str) -> bool:
    return path.startswith(("/proc", "/sys", "/dev/pts"))


def abstract_socket() -> socket.socket:
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
