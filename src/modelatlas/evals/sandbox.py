"""Run untrusted Python programs (model-written code) in isolation, many at a time.

Coding benchmarks score a model by running what it wrote. A bare subprocess is not a security
boundary, so every program runs in one of these, strongest first (``isolation="auto"`` picks
the strongest that works; every :class:`SandboxResult` names the one used and the
:class:`Guarantee` set it provides, so reports can mark weaker runs):

``bwrap`` (bubblewrap, Debian package ``bubblewrap``)
    New user, mount, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``), no
    nested user namespaces, ``--die-with-parent``, ``--new-session`` (no terminal injection).
    The filesystem is a read-only root holding only ``/usr`` (and the ``/bin``, ``/lib*``
    links), ``/etc/ld.so.cache``, the interpreter's own prefix, a fresh ``/proc`` and a
    read-only minimal ``/dev``; the only writable places are a size-limited tmpfs ``/tmp``
    (the program's folder, cwd and ``HOME``) and a small ``/dev/shm``. The user's home and
    files, other processes and the network (not even loopback of the host) are invisible.
    Inside, ``prlimit`` sets hard rlimits (CPU, address space, file size, open files, no core
    dumps, processes); a user namespace counts processes on its own, so the process limit
    holds per program. When the caller is root, bwrap itself runs as a fresh unprivileged
    uid, since the kernel never applies the process limit to root.
``rlimits+uid`` (fallback without bwrap, caller is root)
    A plain subprocess in a temporary folder owned by a fresh unprivileged uid (so it can
    neither signal the caller nor read files private to other users), with the same rlimits,
    a clean environment, its own session, and a new network namespace when ``unshare`` can
    make one. Host files readable by everyone stay readable, and it can write wherever any
    user may (``/tmp``).
``rlimits-only`` (fallback without bwrap, caller not root)
    The same rlimits, clean environment, temporary folder and session; when unprivileged user
    namespaces are allowed, also a user and network namespace (no network, and a process
    limit counted per program). Nothing stops the program from reading or writing the
    caller's files or signalling the caller's processes. Use it only for trusted code.

Known gaps: no seccomp filter (the kernel's whole syscall surface is reachable from an
unprivileged user namespace); bwrap's monitor exits without reaping the namespace's init, so
run the pool under an init that reaps adopted zombies (any distribution's, ``docker --init``,
tini), not as PID 1 of a bare container; the interpreter must be readable by an unprivileged
uid (a system ``python3``, not one under ``/root``), see :func:`default_python`.

All levels give a clean environment (no variables of the caller reach the program), wall- and
CPU-time limits, an address-space limit, and capped output: capture stops at
``max_output_bytes`` per stream, the program is killed and the result flagged.

The program is ``Program.source``, followed by ``Program.test`` when given (the HumanEval
convention: the test code calls the solution's functions), written to ``main.py`` in the
program's folder and run as ``__main__`` (like ``python -s -B main.py``) with
``Program.stdin`` on standard input, in a fixed environment (``PYTHONHASHSEED=0``, one BLAS
thread, UTF-8). Code that does not parse is reported as ``syntax_error`` without being started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelatlas.errors import MissingDependencyError, UserError
from modelatlas.evals.code_extract import parse_error

IsolationMode = Literal["auto", "bwrap", "fallback"]


class RunStatus(StrEnum):
    """How a sandboxed run ended. Only ``ok`` is a pass."""

    OK = "ok"
    FAILED = "failed"
    """Exited non-zero (an exception, a failed assertion, ``sys.exit(1)``)."""
    TIMEOUT = "timeout"
    """Wall-time limit (killed by the pool) or CPU-time limit (SIGXCPU)."""
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_LIMIT = "output_limit"
    """Wrote more than ``max_output_bytes`` on a stream: killed, output truncated."""
    CRASHED = "crashed"
    """Ended by a signal other than the limits above (SIGSEGV, SIGABRT, SIGKILL...)."""
    SYNTAX_ERROR = "syntax_error"
    """The program does not parse; it was not run."""
    SANDBOX_ERROR = "sandbox_error"
    """The sandbox could not start the program: an infrastructure problem, not the model's."""


class IsolationLevel(StrEnum):
    """The isolation mechanism a run used (see the module docstring)."""

    BWRAP = "bwrap"
    RLIMITS_UID = "rlimits+uid"
    RLIMITS_ONLY = "rlimits-only"


class Guarantee(StrEnum):
    """A property the isolation level provides; tests and reports check these, not the name."""

    CLEAN_ENV = "clean_env"
    """No environment variable of the caller is visible."""
    RESOURCE_LIMITS = "resource_limits"
    """Wall time, CPU time, address space and output size are capped."""
    NO_NETWORK = "no_network"
    """A private network namespace: no host interface, not even the host's loopback."""
    PRIVATE_FILESYSTEM = "private_filesystem"
    """Host files outside the system directories are invisible; writes stay in a private tmpfs."""
    PROCESS_LIMIT = "process_limit"
    """At most ``max_processes`` processes and threads (fork bombs are contained)."""
    PARENT_PROTECTED = "parent_protected"
    """Cannot signal the caller or any process outside the sandbox."""


class SandboxLimits(BaseModel):
    """Resource limits for one program."""

    model_config = ConfigDict(frozen=True)

    wall_seconds: float = Field(default=20.0, gt=0)
    cpu_seconds: int = Field(default=10, gt=0)
    memory_bytes: int = Field(default=1 << 30, ge=64 << 20)
    """Address-space limit (RLIMIT_AS) of each process."""
    max_processes: int = Field(default=64, ge=4)
    """Processes and threads; under bwrap this counts bwrap's own helper process too."""
    max_output_bytes: int = Field(default=1 << 20, ge=1024)
    """Captured bytes per stream (stdout, stderr); more kills the program (``output_limit``)."""
    max_file_bytes: int = Field(default=64 << 20, ge=1 << 20)
    """Size of any written file (RLIMIT_FSIZE) and of the private tmpfs under bwrap."""
    max_open_files: int = Field(default=256, ge=16)


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class Program(BaseModel):
    """A program to run: the model's code, an optional test harness, stdin and data files."""

    model_config = ConfigDict(frozen=True)

    source: str
    test: str | None = None
    """Appended after ``source`` (HumanEval style); its failures fail the run."""
    stdin: str = ""
    files: Mapping[str, str | bytes] = Field(default_factory=dict)
    """Extra files placed next to ``main.py`` (plain names, no folders)."""
    label: str = ""
    """A caller's identifier (task id), copied into the result."""

    @field_validator("files")
    @classmethod
    def _plain_names(cls, value: Mapping[str, str | bytes]) -> Mapping[str, str | bytes]:
        for name in value:
            if not _SAFE_NAME.match(name) or name == "main.py":
                raise ValueError(f"file name {name!r} must be a plain name other than main.py")
        return value

    def script(self) -> str:
        """The text of ``main.py``."""
        if self.test is None:
            return self.source
        return self.source.rstrip("\n") + "\n\n" + self.test.rstrip("\n") + "\n"


class SandboxResult(BaseModel):
    """The outcome of one run, with the isolation it had."""

    model_config = ConfigDict(frozen=True)

    label: str = ""
    status: RunStatus
    exit_code: int | None
    """The exit status when the program exited by itself (``None`` if killed by a signal)."""
    signal: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_seconds: float
    isolation: IsolationLevel
    guarantees: frozenset[Guarantee]
    detail: str | None = None
    """A one-line reason for a non-ok status (``wall time limit of 5 s exceeded``)."""

    @property
    def passed(self) -> bool:
        return self.status is RunStatus.OK


class SandboxInfo(BaseModel):
    """What :func:`detect_isolation` found: the level runs will use, and why not a stronger one."""

    model_config = ConfigDict(frozen=True)

    level: IsolationLevel
    guarantees: frozenset[Guarantee]
    python: str
    bwrap: str | None
    reason: str | None = None
    """Why bwrap is not used (``None`` when it is)."""


# --------------------------------------------------------------------------------------------
# Detection


_BWRAP_GUARANTEES = frozenset(Guarantee)
_SANDBOX_UID_RANGE = (1_300_000_000, 1_400_000_000)
"""Fresh uids for sandboxed processes when the caller is root: unused by any account."""

_BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}
_STOP_SECONDS = 10.0
_DRAIN_SECONDS = 2.0
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


@dataclass(frozen=True)
class _Backend:
    info: SandboxInfo
    python: str
    python_binds: tuple[str, ...]
    prlimit: str
    drop_uid: bool
    unshare_prefix: tuple[str, ...] = ()
    setpriv: str | None = None
    kill: str | None = None


def default_python() -> str:
    """The interpreter used inside the sandbox: the system ``python3`` when there is one.

    A system interpreter lives under ``/usr``, which bwrap binds anyway and an unprivileged
    uid can read; interpreters under ``/root`` (pyenv) are not reachable from the sandbox.
    """
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("python3") or sys.executable


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=8)
def _python_binds(python: str) -> tuple[str, ...]:
    """Folders the interpreter needs that bwrap does not already bind (its prefixes)."""
    probe = (
        "import sys, os, json; print(json.dumps(sorted({os.path.realpath(p) for p in "
        "(sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, "
        "os.path.dirname(os.path.realpath(sys.executable)))})))"
    )
    try:
        out = subprocess.run(
            [python, "-E", "-s", "-c", probe],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": _BASE_ENV["PATH"]},
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"The sandbox interpreter '{python}' does not run: {exc}") from exc
    paths: list[str] = json.loads(out)
    binds: list[str] = []
    for path in sorted(set(paths)):
        if _under(path, "/usr") or any(_under(path, b) for b in binds):
            continue
        binds.append(path)
    return tuple(binds)


def _probe(backend: _Backend, limits: SandboxLimits) -> str | None:
    """Run a trivial program through ``backend``: ``None`` if it works, else the error."""
    outcome: list[SandboxResult | BaseException] = []

    def probe() -> None:
        try:
            outcome.append(
                asyncio.run(_run_one(backend, Program(source="print('sandbox-ok')"), limits))
            )
        except Exception as exc:  # reported as the probe's failure
            outcome.append(exc)

    thread = threading.Thread(target=probe, name="sandbox-probe")  # works inside a running loop
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    if result.status is RunStatus.OK and result.stdout.strip() == "sandbox-ok":
        return None
    message = (result.stderr.strip() or result.detail or result.status.value).splitlines()
    return message[-1] if message else result.status.value


def _command_works(argv: Sequence[str]) -> bool:
    try:
        return (
            subprocess.run(
                list(argv), capture_output=True, timeout=10, env={"PATH": _BASE_ENV["PATH"]}
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


_DETECT_LOCK = threading.Lock()
_DETECTED: dict[tuple[IsolationMode, str], _Backend] = {}


def _detect_backend(mode: IsolationMode, python: str) -> _Backend:
    with _DETECT_LOCK:
        key = (mode, python)
        if key not in _DETECTED:
            _DETECTED[key] = _build_backend(mode, python)
        return _DETECTED[key]


def _build_backend(mode: IsolationMode, python: str) -> _Backend:
    prlimit = shutil.which("prlimit", path=_BASE_ENV["PATH"])
    if prlimit is None:
        raise MissingDependencyError(
            "prlimit (util-linux)", "to limit sandboxed programs", "apt-get install util-linux"
        )
    root = os.geteuid() == 0
    setpriv = shutil.which("setpriv", path=_BASE_ENV["PATH"])
    if root and setpriv is None:
        raise MissingDependencyError(
            "setpriv (util-linux)",
            "to run sandboxed programs as root",
            "apt-get install util-linux",
        )
    bwrap = shutil.which("bwrap", path=_BASE_ENV["PATH"])
    probe_limits = SandboxLimits(wall_seconds=30)
    reason: str | None
    if mode in ("auto", "bwrap"):
        if bwrap is None:
            reason = "bwrap is not installed (Debian package 'bubblewrap')"
        else:
            candidate = _Backend(
                info=SandboxInfo(
                    level=IsolationLevel.BWRAP,
                    guarantees=_BWRAP_GUARANTEES,
                    python=python,
                    bwrap=bwrap,
                ),
                python=python,
                python_binds=_python_binds(python),
                prlimit=prlimit,
                drop_uid=root,
                setpriv=setpriv,
            )
            failure = _probe(candidate, probe_limits)
            if failure is None:
                return candidate
            reason = f"bwrap does not work here: {failure}"
        if mode == "bwrap":
            raise MissingDependencyError(
                "bubblewrap", f"for the code sandbox ({reason})", "apt-get install bubblewrap"
            )
    else:
        reason = "fallback requested"

    guarantees = {Guarantee.CLEAN_ENV, Guarantee.RESOURCE_LIMITS}
    unshare = shutil.which("unshare", path=_BASE_ENV["PATH"])
    unshare_prefix: tuple[str, ...] = ()
    if unshare is not None:
        flags = ("--net",) if root else ("--user", "--net")
        if _command_works([unshare, *flags, "--", "true"]):
            unshare_prefix = (unshare, *flags, "--")
            guarantees.add(Guarantee.NO_NETWORK)
            if not root:  # a user namespace counts its processes on its own
                guarantees.add(Guarantee.PROCESS_LIMIT)
    level = IsolationLevel.RLIMITS_ONLY
    if root:
        level = IsolationLevel.RLIMITS_UID
        guarantees |= {Guarantee.PROCESS_LIMIT, Guarantee.PARENT_PROTECTED}
    backend = _Backend(
        info=SandboxInfo(
            level=level,
            guarantees=frozenset(guarantees),
            python=python,
            bwrap=bwrap,
            reason=reason,
        ),
        python=python,
        python_binds=(),
        prlimit=prlimit,
        drop_uid=level is IsolationLevel.RLIMITS_UID,
        unshare_prefix=unshare_prefix,
        setpriv=setpriv,
        kill=shutil.which("kill", path=_BASE_ENV["PATH"]),
    )
    failure = _probe(backend, probe_limits)
    if failure is not None:
        raise UserError(
            f"The code sandbox cannot run '{python}' ({level.value}): {failure}",
            hint="Install bubblewrap, or pass a system interpreter readable by all users.",
        )
    return backend


def detect_isolation(mode: IsolationMode = "auto", python: str | None = None) -> SandboxInfo:
    """The isolation runs will get on this machine (probed once per process and cached).

    ``mode="bwrap"`` raises :class:`MissingDependencyError` when bubblewrap is missing or does
    not work; ``"fallback"`` skips bwrap (for measurements and tests of the weaker path).
    """
    return _detect_backend(mode, python or default_python()).info


# --------------------------------------------------------------------------------------------
# One run


class _UidPool:
    """Hands out uids no running program of this process uses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: set[int] = set()

    def take(self) -> int:
        with self._lock:
            while True:
                uid = random.randrange(*_SANDBOX_UID_RANGE)
                if uid not in self._used:
                    self._used.add(uid)
                    return uid

    def give_back(self, uid: int) -> None:
        with self._lock:
            self._used.discard(uid)


_UIDS = _UidPool()


def _prlimit_args(prlimit: str, limits: SandboxLimits) -> list[str]:
    cpu = limits.cpu_seconds
    return [
        prlimit,
        f"--cpu={cpu}:{cpu + 1}",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.max_file_bytes}",
        f"--nofile={limits.max_open_files}",
        f"--nproc={limits.max_processes}",
        "--core=0",
        "--",
    ]


_LAUNCHER = """\
import os, sys
os.write(int(sys.argv[1]), b"started")
os.close(int(sys.argv[1]))
sys.argv = ["main.py"]
main = type(sys)("__main__")
main.__file__ = "main.py"
main.__builtins__ = __builtins__
sys.modules["__main__"] = main
try:
    with open("main.py", "rb") as source:
        code = compile(source.read(), "main.py", "exec")
    del source
    exec(code, main.__dict__)
except SystemExit:
    raise
except BaseException as exc:
    import traceback
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "main.py":
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)
    sys.exit(1)
"""
"""Runs ``main.py`` as ``__main__`` (tracebacks as from ``python main.py``; no ``runpy``, whose
imports cost more than the interpreter's start) after telling the pool, on a pipe the program
never sees, that the sandbox came up: so a setup failure (``sandbox_error``) cannot be faked."""


def _python_argv(backend: _Backend, marker_fd: int) -> list[str]:
    return [backend.python, "-s", "-B", "-c", _LAUNCHER, str(marker_fd)]


def _host_symlinks() -> list[str]:
    args: list[str] = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _bwrap_argv(
    backend: _Backend,
    program: Program,
    limits: SandboxLimits,
    uid: int | None,
    fds: list[int],
    marker_fd: int,
) -> list[str]:
    """bwrap's command line; the files go in as memfds (appended to ``fds``), no host folder."""
    assert backend.info.bwrap is not None
    argv = [
        *_as_uid(backend, uid),
        backend.info.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
        *_host_symlinks(),
        "--ro-bind-try",
        "/etc/ld.so.cache",
        "/etc/ld.so.cache",
    ]
    for path in backend.python_binds:
        argv += ["--ro-bind", path, path]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--remount-ro",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(min(limits.max_file_bytes, 16 << 20)),
        "--tmpfs",
        "/dev/shm",
        "--perms",
        "1777",
        "--size",
        str(limits.max_file_bytes),
        "--tmpfs",
        "/tmp",
    ]
    files: dict[str, bytes] = {"main.py": program.script().encode()}
    for name, content in program.files.items():
        files[name] = content.encode() if isinstance(content, str) else content
    for name, content in files.items():
        fd = _memfd(name, content)
        fds.append(fd)
        argv += ["--perms", "0644", "--file", str(fd), f"/tmp/{name}"]
    argv += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in {**_BASE_ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", *_prlimit_args(backend.prlimit, limits), *_python_argv(backend, marker_fd)]


def _as_uid(backend: _Backend, uid: int | None) -> list[str]:
    """The prefix that drops to ``uid`` (an exec chain, so the pool can spawn with vfork)."""
    if uid is None:
        return []
    assert backend.setpriv is not None
    return [
        backend.setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--pdeathsig=KILL",
        "--",
    ]


def _fallback_argv(
    backend: _Backend, limits: SandboxLimits, uid: int | None, marker_fd: int
) -> list[str]:
    return [
        *backend.unshare_prefix,
        *_as_uid(backend, uid),
        *_prlimit_args(backend.prlimit, limits),
        *_python_argv(backend, marker_fd),
    ]


def _write_workdir(program: Program, uid: int | None) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="modelatlas-sandbox-"))
    files: dict[str, str | bytes] = {"main.py": program.script(), **program.files}
    for name, content in files.items():
        path = workdir / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        if uid is not None:
            os.chown(path, uid, uid)
    if uid is not None:
        os.chown(workdir, uid, uid)
    return workdir


class _Capture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> bool:
        """Keep what fits; False once the limit is exceeded."""
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.data += chunk[: max(room, 0)]
            self.truncated = True
            return False
        self.data += chunk
        return True

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass
class _Raw:
    returncode: int | None = None
    killed_for: Literal["wall", "output"] | None = None
    stdout: _Capture = field(default_factory=lambda: _Capture(0))
    stderr: _Capture = field(default_factory=lambda: _Capture(0))
    wall: float = 0.0
    error: str | None = None
    started: bool = True
    """False when the program never started (the sandbox's setup failed)."""


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _reap_uid(backend: _Backend, uid: int) -> None:
    """Kill every process of ``uid`` (escaped daemons of a fallback run): kill(-1) as that uid."""
    argv = (
        [backend.kill, "-KILL", "-1"]
        if backend.kill
        else [backend.python, "-S", "-c", "import os\ntry: os.kill(-1, 9)\nexcept OSError: pass"]
    )
    proc = await asyncio.create_subprocess_exec(
        *_as_uid(backend, uid),
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": _BASE_ENV["PATH"]},
    )
    await proc.wait()


class _Protocol(asyncio.SubprocessProtocol):
    """Captures output up to the cap (draining the rest) and notes exit and pipe closure.

    ``Process.wait()`` of asyncio's stream API only returns once every pipe is closed, which
    a leftover process can delay for ever; this protocol reports the exit itself.
    """

    def __init__(self, limit: int) -> None:
        self.stdout = _Capture(limit)
        self.stderr = _Capture(limit)
        self.overflow = asyncio.Event()
        self.exited = asyncio.Event()
        self.pipes_closed = asyncio.Event()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        capture = self.stdout if fd == 1 else self.stderr
        chunk = data.encode() if isinstance(data, str) else data
        if not capture.add(chunk):
            self.overflow.set()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open:
            self.pipes_closed.set()

    def process_exited(self) -> None:
        self.exited.set()


async def _execute(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | None,
    pass_fds: Sequence[int],
    stdin: bytes,
    limits: SandboxLimits,
    marker_read: int,
    after_exit: Callable[[], Awaitable[None]] | None = None,
) -> _Raw:
    """Run ``argv`` with capped output and a wall limit; closes ``pass_fds`` and ``marker_read``.

    ``after_exit`` runs once the first process has ended (the fallback's reaper), before the
    output pipes are drained. A run whose launcher never wrote to the marker pipe is marked
    not started.
    """
    loop = asyncio.get_running_loop()
    protocol = _Protocol(limits.max_output_bytes)
    raw = _Raw(stdout=protocol.stdout, stderr=protocol.stderr)
    start = time.monotonic()
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            pass_fds=pass_fds,
            start_new_session=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raw.error = f"cannot start the sandbox: {exc}"
        os.close(marker_read)
        return raw
    except BaseException:  # cancelled while starting
        os.close(marker_read)
        raise
    finally:
        for fd in pass_fds:
            os.close(fd)
    pid = transport.get_pid()
    stdin_pipe = transport.get_pipe_transport(0)
    if isinstance(stdin_pipe, asyncio.WriteTransport):
        if stdin:
            stdin_pipe.write(stdin)  # buffered by the transport; dropped if never read
        stdin_pipe.write_eof()
    exited = asyncio.create_task(protocol.exited.wait())
    overflow = asyncio.create_task(protocol.overflow.wait())
    try:
        done, _ = await asyncio.wait(
            {exited, overflow}, timeout=limits.wall_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if exited not in done:
            raw.killed_for = "output" if protocol.overflow.is_set() else "wall"
            _killpg(pid)
            try:
                await asyncio.wait_for(protocol.exited.wait(), timeout=_STOP_SECONDS)
            except TimeoutError:
                raw.error = f"the sandbox (pid {pid}) did not stop after SIGKILL"
        raw.wall = time.monotonic() - start
        raw.returncode = transport.get_returncode()
        if after_exit is not None:
            await after_exit()
        # Pipes close at once under bwrap (the PID namespace dies with its first process) and
        # after the reaper in the uid fallback; a daemon that escaped rlimits-only is cut off.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.pipes_closed.wait(), timeout=_DRAIN_SECONDS)
    finally:
        exited.cancel()
        overflow.cancel()
        if transport.get_returncode() is None:  # cancelled: never leave a program running
            _killpg(pid)
        transport.close()
        raw.started = _read_available(marker_read).startswith(b"started")
    if protocol.overflow.is_set() and raw.killed_for is None:
        raw.killed_for = "output"
    return raw


def _read_available(fd: int) -> bytes:
    """Everything buffered in a pipe, without blocking; closes ``fd``."""
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


def _classify(
    raw: _Raw, limits: SandboxLimits, level: IsolationLevel
) -> tuple[RunStatus, int | None, int | None, str | None]:
    """(status, exit_code, signal, detail)."""
    code = raw.returncode
    sig: int | None = None
    if code is not None and code < 0:
        sig, code = -code, None
    elif level is IsolationLevel.BWRAP and code is not None and 128 < code < 128 + 65:
        sig, code = code - 128, None  # bwrap reports "killed by signal N" as exit 128+N
    if raw.killed_for == "wall":
        return (
            RunStatus.TIMEOUT,
            None,
            sig,
            f"wall time limit of {limits.wall_seconds:g} s exceeded",
        )
    if raw.killed_for == "output":
        return (
            RunStatus.OUTPUT_LIMIT,
            code,
            sig,
            f"output exceeded {limits.max_output_bytes} bytes; killed and truncated",
        )
    tail = raw.stderr.text()[-4096:]
    if sig is not None:
        if sig == signal.SIGXCPU:
            return RunStatus.TIMEOUT, None, sig, f"CPU time limit of {limits.cpu_seconds} s"
        if any(marker in tail for marker in _MEMORY_MARKERS):
            return RunStatus.MEMORY_EXCEEDED, None, sig, f"killed by {_signal_name(sig)}"
        detail = f"killed by {_signal_name(sig)}"
        if sig == signal.SIGKILL:
            detail += " (CPU hard limit or the kernel's out-of-memory killer)"
        elif sig == signal.SIGXFSZ:
            detail += f" (file size limit of {limits.max_file_bytes} bytes)"
        return RunStatus.CRASHED, None, sig, detail
    if code == 0:
        return RunStatus.OK, 0, None, None
    if any(marker in tail for marker in _MEMORY_MARKERS):
        return (
            RunStatus.MEMORY_EXCEEDED,
            code,
            None,
            f"memory limit of {limits.memory_bytes} bytes: {_last_line(tail)}",
        )
    return RunStatus.FAILED, code, None, _last_line(tail) or f"exit code {code}"


async def _run_one(backend: _Backend, program: Program, limits: SandboxLimits) -> SandboxResult:
    info = backend.info

    def result(status: RunStatus, detail: str | None, raw: _Raw | None = None) -> SandboxResult:
        return SandboxResult(
            label=program.label,
            status=status,
            exit_code=None,
            signal=None,
            stdout=raw.stdout.text() if raw else "",
            stderr=raw.stderr.text() if raw else "",
            wall_seconds=raw.wall if raw else 0.0,
            isolation=info.level,
            guarantees=info.guarantees,
            detail=detail,
        )

    error = parse_error(program.script())
    if error is not None:
        return result(RunStatus.SYNTAX_ERROR, error)
    uid = _UIDS.take() if backend.drop_uid else None
    workdir: Path | None = None
    fds: list[int] = []
    marker_read: int | None = None
    reaper: Callable[[], Awaitable[None]] | None = None
    if uid is not None and info.level is not IsolationLevel.BWRAP:
        reaper = functools.partial(_reap_uid, backend, uid)
    try:
        marker_read, marker_write = os.pipe()
        fds.append(marker_write)
        if info.level is IsolationLevel.BWRAP:
            argv = _bwrap_argv(backend, program, limits, uid, fds, marker_write)
            env = {"PATH": _BASE_ENV["PATH"]}
            cwd = "/"
        else:
            workdir = _write_workdir(program, uid)
            argv = _fallback_argv(backend, limits, uid, marker_write)
            env = {**_BASE_ENV, "HOME": str(workdir), "TMPDIR": str(workdir)}
            cwd = str(workdir)
        try:
            raw = await _execute(
                argv,
                env=env,
                cwd=cwd,
                pass_fds=fds,
                stdin=program.stdin.encode(),
                limits=limits,
                marker_read=marker_read,
                after_exit=reaper,
            )
        finally:
            fds.clear()  # _execute closed them and marker_read
            marker_read = None
    except OSError as exc:
        return result(RunStatus.SANDBOX_ERROR, f"cannot prepare the sandbox: {exc}")
    finally:
        for fd in fds if marker_read is None else [*fds, marker_read]:
            os.close(fd)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        if uid is not None:
            _UIDS.give_back(uid)
    if raw.error is not None:
        return result(RunStatus.SANDBOX_ERROR, raw.error, raw)
    if not raw.started:
        reason = _last_line(raw.stderr.text()) or "the program never started"
        return result(RunStatus.SANDBOX_ERROR, reason, raw)
    status, exit_code, sig, detail = _classify(raw, limits, info.level)
    return SandboxResult(
        label=program.label,
        status=status,
        exit_code=exit_code,
        signal=sig,
        stdout=raw.stdout.text(),
        stderr=raw.stderr.text(),
        stdout_truncated=raw.stdout.truncated,
        stderr_truncated=raw.stderr.truncated,
        wall_seconds=round(raw.wall, 4),
        isolation=info.level,
        guarantees=info.guarantees,
        detail=detail,
    )


# --------------------------------------------------------------------------------------------
# The pool


class SandboxPool:
    """Runs programs in the sandbox, at most ``max_parallel`` at a time (default: CPU count).

    ``await pool.run(program)`` and ``await pool.run_many(programs)`` from async code;
    ``pool.run_many_sync(programs)`` from sync code. The isolation is probed on creation
    (``pool.info``); ``isolation="bwrap"`` refuses to fall back.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        max_parallel: int | None = None,
        isolation: IsolationMode = "auto",
        python: str | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.max_parallel = max_parallel or os.cpu_count() or 1
        self._backend = _detect_backend(isolation, python or default_python())
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    @property
    def info(self) -> SandboxInfo:
        return self._backend.info

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.max_parallel)
        return self._semaphores[loop]

    async def run(self, program: Program, limits: SandboxLimits | None = None) -> SandboxResult:
        """Run one program (waits for a free slot)."""
        async with self._semaphore():
            return await _run_one(self._backend, program, limits or self.limits)

    async def run_many(self, programs: Iterable[Program]) -> list[SandboxResult]:
        """Run all programs in parallel; results in the order given."""
        return list(await asyncio.gather(*(self.run(p) for p in programs)))

    def run_many_sync(self, programs: Iterable[Program]) -> list[SandboxResult]:
        """:meth:`run_many` for sync callers (not from inside a running event loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run_many(programs))
        raise RuntimeError("run_many_sync called inside an event loop; await run_many instead")

    def run_sync(self, program: Program) -> SandboxResult:
        """:meth:`run` for sync callers."""
        return self.run_many_sync([program])[0]


def run_program(
    program: Program | str,
    limits: SandboxLimits | None = None,
    *,
    isolation: IsolationMode = "auto",
) -> SandboxResult:
    """Run one program synchronously (a convenience over :class:`SandboxPool`)."""
    if isinstance(program, str):
        program = Program(source=program)
    return SandboxPool(limits, max_parallel=1, isolation=isolation).run_sync(program)
