"""Real server processes for tests: free loopback ports, a process whose output goes to a file,
and waiting until it answers over HTTP(S)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# Run as modules from the repository root, as CI does.
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def gateway_env(instance: Path, database_url: str, **settings: str) -> dict[str, str]:
    """This environment without GATEWAY_* variables, plus the instance, database and settings
    (keyword names without the GATEWAY_ prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_INSTANCE_PATH=str(instance),
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_SECRET_KEY="test-secret-key",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"GATEWAY_{key}": value for key, value in settings.items()})
    return env


class ServerProcess:
    """A process started in the repository root, its output in a file (a pipe could fill)."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.args = list(args)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=REPO,
                start_new_session=True,
            )

    @classmethod
    def gateway(cls, *args: str, env: Mapping[str, str], log: Path) -> ServerProcess:
        """Run `gateway ARGS` (the console script's module) with env."""
        return cls([sys.executable, "-m", "gateway", *args], env, log)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_http(
        self, url: str, timeout: float = 60, context: ssl.SSLContext | None = None
    ) -> None:
        """Wait until url answers at all (any status); fail with the output if the process
        exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.args[:4]} exited early:\n{self.output}")
            try:
                with urllib.request.urlopen(url, timeout=5, context=context):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{url} did not answer within {timeout} s:\n{self.output}"
                    ) from None
                time.sleep(0.2)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the process (and its children), then SIGKILL if it does not exit in time."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def gateway_serve(instance: Path, database_url: str, log: Path,
                  **settings: str) -> Iterator[tuple[ServerProcess, str]]:
    """Run `gateway serve` with one worker on a free loopback port (GATEWAY_* `settings` as in
    gateway_env); yield it, once it answers, with its base URL; stop it afterwards."""
    port = free_port()
    env = gateway_env(instance, database_url, **settings)
    with ServerProcess.gateway("serve", "--port", str(port), "--workers", "1", env=env,
                               log=log) as web:
        base = f"http://127.0.0.1:{port}"
        web.wait_http(f"{base}/healthz")
        yield web, base
