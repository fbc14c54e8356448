# The next submission, graded by the same zygote: look for the marker everywhere. FOUND lists every channel where
# something of the previous submission reached this one.
import resource
import sys

from common import *  # noqa: F403  (make_cases.py puts common.py in a cell before this one instead)

FOUND = []


def holds_marker(data: bytes) -> bool:
    """The two halves adjacent: only the leaker's data holds them so (this code keeps them apart)."""
    head, tail = MARK_HEAD.encode(), MARK_TAIL.encode()
    start = 0
    while (index := data.find(head, start)) >= 0:
        if data[index + len(head):index + len(head) + len(tail)] == tail:
            return True
        start = index + 1
    return False


def look(name, action):
    try:
        if action():
            FOUND.append(name)
    except Exception:  # noqa: BLE001 - not there
        pass


def file_has_marker(path: str) -> bool:
    with open(path, "rb") as handle:
        return holds_marker(handle.read(1 << 20))


def walk_files():
    hits = []
    for root, dirs, files in os.walk("/", topdown=True):
        dirs[:] = [d for d in dirs if not skip_dir(os.path.join(root, d))]
        for name in files:
            path = os.path.join(root, name)
            if "isolation" in name or name == "bdb.py" or root.startswith(("/tmp", "/dev/shm", "/var/tmp")):
                try:
                    if file_has_marker(path):
                        hits.append(path)
                except OSError:
                    pass
    return hits


def tmp_file():
    path = "/tmp/isolation-mark.txt"
    found = file_has_marker(path)
    os.unlink(path)  # the control run (no sandbox) leaves nothing behind
    return found


look("a file in /tmp", tmp_file)
look("files", lambda: walk_files())
look("module on sys.path", lambda: __import__("isolation_mark_module") is not None)
look("planted bdb", lambda: hasattr(__import__("bdb"), "LEAKED_BDB"))
look("environment", lambda: "ISOLATION_MARK" in os.environ)
for proc_root in ("/proc/1/root/tmp", "/proc/2/root/tmp"):
    look(f"zygote /tmp via {proc_root}", lambda p=proc_root: file_has_marker(f"{p}/isolation-mark.txt"))

libc.shmat.restype = ctypes.c_void_p


def sysv_shm():
    ident = libc.shmget(SHM_KEY, 0, 0)
    if ident < 0:
        return False
    address = libc.shmat(ident, None, 0o10000)  # SHM_RDONLY
    found = holds_marker(ctypes.string_at(address, 4096))
    libc.shmdt(ctypes.c_void_p(address))
    libc.shmctl(ident, 0, None)  # IPC_RMID: the control run (no sandbox) leaves nothing behind
    return found


look("SysV shared memory", sysv_shm)
look("SysV message queue", lambda: libc.msgget(MSG_KEY, 0) >= 0)
look("SysV semaphore", lambda: libc.semget(SEM_KEY, 0, 0) >= 0)
look("SysV objects listed", lambda: any(len(open(f"/proc/sysvipc/{kind}").read().splitlines()) > 1
                                        for kind in ("shm", "msg", "sem")))
look("POSIX shared memory", lambda: file_has_marker("/dev/shm" + POSIX_NAME))


def posix_mq():
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    return rt.mq_open(POSIX_NAME.encode(), os.O_RDONLY, 0, None) >= 0


look("POSIX message queue", posix_mq)


def keyrings():
    for keyring in (-3, -4, -5):
        # KEYCTL_SEARCH (10): finds a key by description in the keyring (and those it links to)
        if libc.syscall(keyctl_number(), 10, keyring, b"user", KEY_DESCRIPTION.encode(), 0) >= 0:
            return True
    return False


look("keyrings", keyrings)


def abstract_socket_reply():
    probe = abstract_socket()
    probe.settimeout(2)
    probe.connect(ABSTRACT)
    return holds_marker(probe.recv(100))


look("abstract unix socket", abstract_socket_reply)


def tcp_port():
    probe = socket.create_connection(("127.0.0.1", TCP_PORT), timeout=2)
    probe.close()
    return True


look("TCP port on the loopback", tcp_port)


def processes():
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if holds_marker(handle.read()):
                        return True
            except OSError:
                pass
    return False


look("processes", processes)


def own_memory():
    """Every readable anonymous region of this process (the copy of the zygote it was forked from)."""
    with open("/proc/self/maps") as handle:
        regions = handle.read().splitlines()
    for line in regions:
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        path = fields[5] if len(fields) > 5 else ""
        if "r" not in fields[1] or (path and not path.startswith("[heap")) or end - start > (512 << 20):
            continue
        try:
            if holds_marker(ctypes.string_at(start, end - start)):
                return True
        except Exception:  # noqa: BLE001
            continue
    return False


look("inherited memory", own_memory)
look("lowered RLIMIT_NOFILE", lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 17)
sys.modules.pop("isolation_mark_module", None)
