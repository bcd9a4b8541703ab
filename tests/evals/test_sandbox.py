"""The code sandbox: hostile programs are contained and scored as failures, the run goes on.

Every test runs against bubblewrap and against the fallback. The bwrap runs skip (with the
reason) only where bubblewrap is missing or cannot work; ``MODELATLAS_REQUIRE_BWRAP=1`` turns
that skip into a failure. Properties are asserted when the run's isolation level guarantees
them; programs that would harm the test process (fork bomb, killing the parent) are not even
started on a level that does not contain them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelatlas.errors import MissingDependencyError
from modelatlas.evals.sandbox import (
    Guarantee,
    IsolationLevel,
    Program,
    RunStatus,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    run_program,
)

LIMITS = SandboxLimits(
    wall_seconds=5,
    cpu_seconds=2,
    memory_bytes=256 << 20,
    max_processes=32,
    max_output_bytes=64 << 10,
    max_file_bytes=8 << 20,
)
SECRET_ENV = "MODELATLAS_TEST_SECRET_TOKEN"
SECRET_VALUE = "sk-test-" + uuid.uuid4().hex
KEY_TEXT = "-----BEGIN FAKE KEY----- " + uuid.uuid4().hex
SANDBOX_UIDS = range(1_300_000_000, 1_400_000_000)
DAEMON_SECONDS = f"297.{uuid.uuid4().int % 10**9:09d}"  # a unique `sleep` argument to find


def _make_pool(mode: str) -> SandboxPool:
    if mode == "fallback":
        return SandboxPool(LIMITS, isolation="fallback")
    try:
        return SandboxPool(LIMITS, isolation="bwrap")
    except MissingDependencyError as exc:
        reason = f"bubblewrap sandbox unavailable: {exc.message}"
        if os.environ.get("MODELATLAS_REQUIRE_BWRAP") == "1":
            pytest.fail(f"{reason} (MODELATLAS_REQUIRE_BWRAP=1)")
        pytest.skip(reason)


@pytest.fixture(scope="module", params=["bwrap", "fallback"])
def pool(request: pytest.FixtureRequest) -> SandboxPool:
    return _make_pool(str(request.param))


def _has(pool_or_result: SandboxPool | SandboxResult, guarantee: Guarantee) -> bool:
    if isinstance(pool_or_result, SandboxPool):
        return guarantee in pool_or_result.info.guarantees
    return guarantee in pool_or_result.guarantees


def _process_count() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def _sandbox_uid_processes() -> list[int]:
    """Live pids owned by the uids the sandbox gives programs when run as root.

    Zombies do not count: bwrap's exited helper is reaped by init, in its own time.
    """
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                uid = os.stat(f"/proc/{name}").st_uid
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if uid in SANDBOX_UIDS and state != "Z":
                pids.append(int(name))
    return pids


class _Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@dataclass
class Suite:
    """The hostile suite's results for one pool, with what the test set up around it."""

    pool: SandboxPool
    results: dict[str, SandboxResult]
    key_file: Path
    outside_files: list[Path]
    listener_accepted: int
    peak_processes: int
    baseline_processes: int
    skipped: dict[str, str]


FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
MEMORY_BOMB = """
blocks = []
while True:
    blocks.append(bytearray(16 << 20))
"""
HUGE_OUTPUT = """
import sys
while True:
    sys.stdout.write("A" * 65536)
"""
CORRECT = """
def add(a, b):
    return a + b
"""
CORRECT_TEST = """
def check(candidate):
    assert candidate(1, 2) == 3
    assert candidate(-1, 1) == 0

check(add)
"""


def _hostile_programs(
    key_file: Path, outside: list[Path], port: int, test_pid: int
) -> dict[str, Program]:
    return {
        "correct": Program(source=CORRECT, test=CORRECT_TEST),
        "fork_bomb": Program(source=FORK_BOMB),
        "memory_bomb": Program(source=MEMORY_BOMB),
        "infinite_loop": Program(source="while True:\n    pass\n"),
        "hang": Program(source="import time\ntime.sleep(3600)\n"),
        "read_ssh": Program(
            source=(
                "import os\n"
                "found = []\n"
                f"for path in [os.path.expanduser('~/.ssh/id_test'), {str(key_file)!r}]:\n"
                "    try:\n"
                "        found.append(open(path).read())\n"
                "    except OSError as exc:\n"
                "        print('blocked', path, type(exc).__name__)\n"
                "print('FOUND:' + '|'.join(found))\n"
                "assert found, 'no key readable'\n"
            )
        ),
        "read_env": Program(
            source=(
                "import os\n"
                "print('ENV:', dict(os.environ), flush=True)\n"
                f"print('PROC:', open('/proc/{test_pid}/environ', 'rb').read())\n"
            )
        ),
        "write_outside": Program(
            source=(
                "import pathlib\n"
                "pathlib.Path('inside.txt').write_text('mine')\n"
                "written = []\n"
                f"for path in {[str(p) for p in outside]!r}:\n"
                "    try:\n"
                "        pathlib.Path(path).write_text('escaped')\n"
                "        written.append(path)\n"
                "    except OSError as exc:\n"
                "        print('blocked', path, type(exc).__name__)\n"
                "assert len(written) == 2, 'not everything written'\n"
            )
        ),
        "network": Program(
            source=(
                "import socket\n"
                f"socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
                "print('connected')\n"
            )
        ),
        "kill_parent": Program(
            source=(
                "import os, signal\n"
                "print('parent', os.getppid(), flush=True)\n"
                "os.kill(os.getppid(), signal.SIGKILL)\n"
                f"os.kill({test_pid}, signal.SIGKILL)\n"
                "print('killed them')\n"
            )
        ),
        "kill_everything": Program(
            source=(
                "import os, signal\n"
                "os.kill(-1, signal.SIGKILL)\n"
                f"os.killpg(os.getpgid({test_pid}), signal.SIGKILL)\n"
            )
        ),
        "huge_output": Program(source=HUGE_OUTPUT),
        "leaves_daemon": Program(
            source=(
                "import os\n"
                "if os.fork() == 0:\n"
                "    os.setsid()\n"
                "    if os.fork() == 0:\n"
                f"        os.execv('/bin/sleep', ['sleep', {DAEMON_SECONDS!r}])\n"
                "    os._exit(0)\n"
                "print('daemonized')\n"
            )
        ),
        "does_not_parse": Program(source="def broken(:\n    return 1\n"),
        "correct_after": Program(source="print(sum(range(10)))\n"),
    }


@pytest.fixture(scope="module")
def suite(pool: SandboxPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """Runs every hostile program in one parallel batch (so one run's failure cannot stop
    the others) with a fake ~/.ssh key, a secret env var and a listener set up around it."""
    base = tmp_path_factory.mktemp("sandbox-suite")
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    key_file = home / ".ssh" / "id_test"
    key_file.write_text(KEY_TEXT)
    for path in (base, home, home / ".ssh"):
        path.chmod(0o755)  # readable by anyone: only the sandbox may hide it
    key_file.chmod(0o644)
    outside = [home / "escaped.txt", Path("/tmp") / f"modelatlas-escape-{uuid.uuid4().hex}"]
    listener = _Listener()
    programs = _hostile_programs(key_file, outside, listener.port, os.getpid())
    skipped: dict[str, str] = {}
    if not _has(pool, Guarantee.PROCESS_LIMIT):
        skipped["fork_bomb"] = "no process limit at this isolation level"
    if not _has(pool, Guarantee.PARENT_PROTECTED):
        skipped["kill_parent"] = skipped["kill_everything"] = "parent not protected"
    for name in skipped:
        del programs[name]

    baseline = _process_count()
    peak = baseline
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, _process_count())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv(SECRET_ENV, SECRET_VALUE)
        sampler.start()
        try:
            results = pool.run_many_sync(
                [p.model_copy(update={"label": name}) for name, p in programs.items()]
            )
        finally:
            sampling.set()
            sampler.join()
            listener.close()
    yield Suite(
        pool=pool,
        results={r.label: r for r in results},
        key_file=key_file,
        outside_files=outside,
        listener_accepted=listener.accepted,
        peak_processes=peak,
        baseline_processes=baseline,
        skipped=skipped,
    )
    for path in outside:
        path.unlink(missing_ok=True)


def _result(suite: Suite, name: str) -> SandboxResult:
    if name in suite.skipped:
        pytest.skip(f"{name} not run on {suite.pool.info.level.value}: {suite.skipped[name]}")
    return suite.results[name]


def test_bwrap_level_provides_every_guarantee(pool: SandboxPool) -> None:
    if pool.info.level is IsolationLevel.BWRAP:
        assert pool.info.guarantees == frozenset(Guarantee)
        assert pool.info.reason is None
    else:
        assert pool.info.reason  # a fallback says why bwrap is not used
        assert {Guarantee.CLEAN_ENV, Guarantee.RESOURCE_LIMITS} <= pool.info.guarantees


def test_every_result_reports_its_isolation(suite: Suite) -> None:
    for result in suite.results.values():
        assert result.isolation is suite.pool.info.level
        assert result.guarantees == suite.pool.info.guarantees


def test_correct_programs_pass_before_and_after_hostile_ones(suite: Suite) -> None:
    for name in ("correct", "correct_after"):
        result = _result(suite, name)
        assert result.status is RunStatus.OK, result
        assert result.passed and result.exit_code == 0
    assert _result(suite, "correct_after").stdout == "45\n"


CONTAINED_ONLY_WITH = {
    "read_env": Guarantee.PARENT_PROTECTED,
    "read_ssh": Guarantee.PRIVATE_FILESYSTEM,
    "write_outside": Guarantee.PRIVATE_FILESYSTEM,
    "network": Guarantee.NO_NETWORK,
}


def test_no_hostile_program_passes(suite: Suite) -> None:
    for name, result in suite.results.items():
        assert result.status is not RunStatus.SANDBOX_ERROR, (name, result)
        needs = CONTAINED_ONLY_WITH.get(name)
        if name in ("correct", "correct_after", "leaves_daemon"):
            continue
        if needs is not None and not _has(result, needs):
            continue
        assert not result.passed, (name, result)


def test_fork_bomb_is_contained(suite: Suite) -> None:
    result = _result(suite, "fork_bomb")
    assert result.status in (RunStatus.TIMEOUT, RunStatus.FAILED, RunStatus.OUTPUT_LIMIT)
    # 32 processes per program; an unbounded bomb makes thousands within the wall limit.
    assert suite.peak_processes - suite.baseline_processes < 300


def test_no_sandbox_process_outlives_its_run(suite: Suite) -> None:
    if os.geteuid() != 0:
        pytest.skip("programs run under the caller's uid when not root")
    deadline = time.monotonic() + 5
    while _sandbox_uid_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sandbox_uid_processes() == []


def _daemon_pids() -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline == f"sleep\0{DAEMON_SECONDS}\0".encode():
                pids.append(int(name))
    return pids


def test_escaped_daemon_does_not_outlive_its_run(suite: Suite) -> None:
    result = _result(suite, "leaves_daemon")
    assert result.status is RunStatus.OK and result.stdout == "daemonized\n"
    deadline = time.monotonic() + 5
    while _daemon_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = _daemon_pids()
    if result.isolation is IsolationLevel.RLIMITS_ONLY:
        for pid in leftover:  # our own program's process: clean up after the documented gap
            os.kill(pid, 9)
        pytest.skip("rlimits-only does not reap a program's escaped processes")
    assert leftover == []


def test_memory_bomb_hits_memory_limit(suite: Suite) -> None:
    result = _result(suite, "memory_bomb")
    assert result.status is RunStatus.MEMORY_EXCEEDED, result


def test_infinite_loop_hits_cpu_limit(suite: Suite) -> None:
    result = _result(suite, "infinite_loop")
    assert result.status is RunStatus.TIMEOUT, result
    assert result.detail is not None and "time limit" in result.detail


def test_hang_hits_wall_limit(suite: Suite) -> None:
    result = _result(suite, "hang")
    assert result.status is RunStatus.TIMEOUT, result
    assert result.detail == "wall time limit of 5 s exceeded"
    assert LIMITS.wall_seconds <= result.wall_seconds < LIMITS.wall_seconds + 3


def test_ssh_key_is_not_readable(suite: Suite) -> None:
    result = _result(suite, "read_ssh")
    if not _has(result, Guarantee.PRIVATE_FILESYSTEM):
        pytest.skip(f"no private filesystem on {result.isolation.value}")
    assert result.status is RunStatus.FAILED, result
    assert KEY_TEXT not in result.stdout + result.stderr
    assert result.stdout.count("blocked") == 2
    assert "PermissionError" not in result.stdout  # invisible, not merely forbidden


def test_environment_is_clean(suite: Suite) -> None:
    result = _result(suite, "read_env")
    env_line = next(line for line in result.stdout.splitlines() if line.startswith("ENV:"))
    assert SECRET_ENV not in env_line and SECRET_VALUE not in env_line
    assert "HOME" in env_line  # the sandbox's own, clean environment
    if _has(result, Guarantee.PARENT_PROTECTED):  # nor through /proc/<pid>/environ
        assert SECRET_VALUE not in result.stdout + result.stderr
        assert result.status is RunStatus.FAILED


def test_writes_outside_its_folder_do_not_land(suite: Suite) -> None:
    result = _result(suite, "write_outside")
    if not _has(result, Guarantee.PRIVATE_FILESYSTEM):
        pytest.skip(f"no private filesystem on {result.isolation.value}")
    assert result.status is RunStatus.FAILED, result
    for path in suite.outside_files:  # /tmp included: the sandbox's /tmp is its own tmpfs
        assert not path.exists(), path


def test_network_is_unreachable(suite: Suite) -> None:
    result = _result(suite, "network")
    if not _has(result, Guarantee.NO_NETWORK):
        pytest.skip(f"no network isolation on {result.isolation.value}")
    assert result.status is RunStatus.FAILED, result
    assert "connected" not in result.stdout
    assert suite.listener_accepted == 0


def test_cannot_kill_the_parent_or_the_test(suite: Suite) -> None:
    result = _result(suite, "kill_parent")
    assert result.status is RunStatus.FAILED, result
    assert "killed them" not in result.stdout
    assert "ProcessLookupError" in result.stderr or "PermissionError" in result.stderr
    everything = _result(suite, "kill_everything")
    assert not everything.passed
    os.kill(os.getpid(), 0)  # still here, and so is the pool below
    assert suite.pool.run_sync(Program(source="print('alive')")).stdout == "alive\n"


def test_huge_output_is_truncated_and_flagged(suite: Suite) -> None:
    result = _result(suite, "huge_output")
    assert result.status is RunStatus.OUTPUT_LIMIT
    assert result.stdout_truncated
    assert len(result.stdout.encode()) == LIMITS.max_output_bytes
    assert result.detail is not None and "output exceeded" in result.detail


def test_code_that_does_not_parse_is_reported(suite: Suite) -> None:
    result = _result(suite, "does_not_parse")
    assert result.status is RunStatus.SYNTAX_ERROR
    assert result.detail == "does not parse: invalid syntax (line 1)"
    assert result.wall_seconds == 0.0  # never started


def test_failing_test_harness_fails(pool: SandboxPool) -> None:
    result = pool.run_sync(Program(source=CORRECT, test="assert add(2, 2) == 5, 'wrong sum'"))
    assert result.status is RunStatus.FAILED
    assert result.exit_code == 1
    assert result.detail == "AssertionError: wrong sum"
    assert 'File "main.py", line' in result.stderr
    assert "runpy" not in result.stderr  # tracebacks read as from `python main.py`


def test_stdin_and_data_files(pool: SandboxPool) -> None:
    program = Program(
        source="n = int(input())\nprint(n * int(open('factor.txt').read()))\n",
        stdin="7\n",
        files={"factor.txt": "6"},
    )
    result = pool.run_sync(program)
    assert result.status is RunStatus.OK, result
    assert result.stdout == "42\n"


def test_crash_by_signal(pool: SandboxPool) -> None:
    result = pool.run_sync(
        Program(source="import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    )
    assert result.status is RunStatus.CRASHED
    assert result.signal == 11 and result.exit_code is None


def test_program_cannot_fake_a_sandbox_error(pool: SandboxPool) -> None:
    fake = "import sys\nsys.stderr.write('bwrap: Can\\'t mount proc\\n')\nsys.exit(1)\n"
    result = pool.run_sync(Program(source=fake))
    assert result.status is RunStatus.FAILED


def test_files_must_have_plain_names() -> None:
    with pytest.raises(ValueError, match="plain name"):
        Program(source="", files={"../escape": "x"})


async def test_async_api_and_sync_wrapper_guard(pool: SandboxPool) -> None:
    results = await pool.run_many([Program(source=f"print({i})") for i in range(4)])
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n", "3\n"]
    with pytest.raises(RuntimeError, match="await run_many"):
        pool.run_many_sync([Program(source="pass")])
    await asyncio.sleep(0)


def test_run_program_convenience() -> None:
    result = run_program("print('hi')", LIMITS)
    assert result.status is RunStatus.OK and result.stdout == "hi\n"
