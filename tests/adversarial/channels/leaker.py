# The first submission: leave the marker wherever a later submission might find it. Every attempt is allowed to
# fail (the sandbox refuses most); what matters is that none of them reaches the next submission.
import mmap
import resource
import subprocess
import sys
import time

from common import *  # noqa: F403  (make_cases.py puts common.py in a cell before this one instead)

leaked = []
# Without the sandbox (the test's control run) the leaker leaves only harmless traces (a file in /tmp, a SysV
# segment the searcher removes): walking and writing the host's file system or starting daemons there is not ours.
SANDBOXED = os.path.isdir("/opt/autograder")


def attempt(name, action):
    try:
        action()
        if name not in leaked:
            leaked.append(name)
    except Exception:  # noqa: BLE001 - refused: fine
        pass


def write(path, data=None):
    with open(path, "wb") as handle:
        handle.write(data or marker())


def writable_dirs():
    found = []
    for root, dirs, _files in os.walk("/", topdown=True):
        dirs[:] = [d for d in dirs if not skip_dir(os.path.join(root, d))]
        if os.access(root, os.W_OK):
            found.append(root)
        if len(found) > 200:
            break
    return found


# files: every writable folder, a read-only folder (rmtree(ignore_errors) leaves it), HOME, caches, cwd
folders = writable_dirs() + [os.getcwd(), os.path.expanduser("~"), "/dev/shm", "/var/tmp"] if SANDBOXED else []
for folder in [*folders, "/tmp"]:
    where = "/tmp" if folder == "/tmp" else "a writable folder"
    attempt(f"file in {where}", lambda folder=folder: write(os.path.join(folder, "isolation-mark.txt")))
    attempt("planted bdb", lambda folder=folder: write(os.path.join(folder, "bdb.py"),
                                                      b"LEAKED_BDB = '" + marker() + b"'\n"))


def read_only_folder():
    folder = "/tmp/isolation-readonly"
    os.makedirs(folder, exist_ok=True)
    write(os.path.join(folder, "inside.txt"))
    os.chmod(folder, 0o555)


if SANDBOXED:
    attempt("read-only folder", read_only_folder)
for cache in ("~/.cache/isolation-mark", "~/.config/isolation-mark", "~/.ipython/isolation-mark",
              "~/.matplotlib/isolation-mark") if SANDBOXED else ():
    path = os.path.expanduser(cache)
    attempt("caches", lambda path=path: (os.makedirs(os.path.dirname(path), exist_ok=True), write(path)))
for entry in sys.path if SANDBOXED else ():  # a module planted on sys.path
    attempt("module on sys.path",
            lambda entry=entry: write(os.path.join(entry or ".", "isolation_mark_module.py"),
                                      b"MARK = '" + marker() + b"'\n"))
for proc_root in ("/proc/1/root/tmp", "/proc/2/root/tmp") if SANDBOXED else ():  # the zygote's /tmp
    attempt("zygote /tmp via /proc", lambda proc_root=proc_root: write(f"{proc_root}/isolation-mark.txt"))
attempt("environment", lambda: os.environ.__setitem__("ISOLATION_MARK", marker().decode()))

# System V IPC: shared memory (detached, so RLIMIT_AS does not see it), a message queue, a semaphore set
libc.shmget.restype = ctypes.c_int
libc.shmat.restype = ctypes.c_void_p


def sysv_shm():
    ident = libc.shmget(SHM_KEY, 4096, IPC_CREAT | 0o666)
    if ident < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    address = libc.shmat(ident, None, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    ctypes.memmove(address, marker(), len(marker()))
    libc.shmdt(ctypes.c_void_p(address))


def sysv_msg():
    ident = libc.msgget(MSG_KEY, IPC_CREAT | 0o666)
    if ident < 0:
        raise OSError(ctypes.get_errno(), "msgget")
    payload = ctypes.create_string_buffer(8 + len(marker()))
    ctypes.memmove(payload, (1).to_bytes(8, "little") + marker(), 8 + len(marker()))
    if libc.msgsnd(ident, payload, len(marker()), 0) != 0:
        raise OSError(ctypes.get_errno(), "msgsnd")


def sysv_sem():
    if libc.semget(SEM_KEY, 1, IPC_CREAT | 0o666) < 0:
        raise OSError(ctypes.get_errno(), "semget")


attempt("SysV shared memory", sysv_shm)
if SANDBOXED:
    attempt("SysV message queue", sysv_msg)
    attempt("SysV semaphore", sysv_sem)


def posix_shm():
    fd = os.open("/dev/shm" + POSIX_NAME, os.O_CREAT | os.O_RDWR, 0o666)
    os.write(fd, marker())
    os.close(fd)


def posix_mq():
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    rt.mq_open.restype = ctypes.c_int
    queue = rt.mq_open(POSIX_NAME.encode(), os.O_CREAT | os.O_RDWR, 0o666, None)
    if queue < 0:
        raise OSError(ctypes.get_errno(), "mq_open")
    if rt.mq_send(queue, marker(), len(marker()), 0) != 0:
        raise OSError(ctypes.get_errno(), "mq_send")


if SANDBOXED:
    attempt("POSIX shared memory", posix_shm)
    attempt("POSIX message queue", posix_mq)


def keyrings():
    for keyring in (-3, -4, -5):  # session, user, user-session keyrings
        serial = libc.syscall(add_key_number(), b"user", KEY_DESCRIPTION.encode(), marker(), len(marker()),
                              keyring)
        if serial < 0:
            raise OSError(ctypes.get_errno(), "add_key")


if SANDBOXED:
    attempt("keyrings", keyrings)

# memory: a large anonymous mapping full of markers (the next process might be forked from a copy of ours)
block = mmap.mmap(-1, 64 << 20)
block.write(marker() * ((64 << 20) // len(marker())))
MEMORY_BLOCK = bytes(marker()) * 100000  # and on the Python heap

# limits: a lowered limit must not reach the next submission
if SANDBOXED:
    attempt("lowered RLIMIT_NOFILE", lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (17, 17)))

# background processes: a daemon that holds an abstract socket, a TCP port and a lock, with the marker in argv
DAEMON = f"""
import fcntl, os, socket, time
a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); a.bind({ABSTRACT!r}); a.listen(4)
try:
    t = socket.socket(); t.bind(("127.0.0.1", {TCP_PORT})); t.listen(4)
except OSError:
    pass
lock = open({os.path.abspath(__file__) if "__file__" in globals() else "/dev/null"!r}, "rb")
end = time.time() + 120
while time.time() < end:
    a.settimeout(1)
    try:
        c, _ = a.accept(); c.sendall({marker()!r}); c.close()
    except OSError:
        pass
"""
if SANDBOXED:
    attempt("daemon", lambda: subprocess.Popen([sys.executable, "-c", DAEMON, marker().decode()],
                                               start_new_session=True, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)  # let the daemon bind before this submission ends
raise RuntimeError("LEFT: " + ", ".join(leaked))  # shown in this submission's feedback: what it managed to leave
