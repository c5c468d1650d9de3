"""Real servers for tests (Redis, PostgreSQL, tinyproxy): Debian's binaries, loopback, a temp
directory.

Each server is a child process of the test run, listening on 127.0.0.1 on a free port, with
all its files in a fresh temporary directory, and is stopped by its PID. PostgreSQL refuses
to run as root, so when the tests run as root it runs as the ``postgres`` system user the
Debian package creates (``setpriv`` drops to it without a shell in between, so the PID we
hold is the server's own). A missing binary fails the test with how to install it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "RedisServer", "ServerMissingError", "TinyProxy", "free_port"]

#: How long a server may take to accept connections on a busy machine.
START_TIMEOUT = 60.0


class ServerMissingError(RuntimeError):
    """A server binary the tests need is not installed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll until the server accepts connections (it has no other way to say so)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _accepts(port):
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """``redis-server`` with an append-only file, so a restart keeps the queue.

    ``appendfsync``: ``"always"`` (the default here: nothing acknowledged is lost when a test
    kills the server) or Redis's own default, ``"everysec"``, for benchmarks that measure
    what a write costs on a server configured as most are.
    """

    def __init__(self, *, appendfsync: str = "always") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerMissingError(
                "redis-server not found: install Debian's redis-server package "
                "(apt-get install -y redis-server; .ci/run does it)"
            )
        self._binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="tci-redis-"))
        self.port = free_port()
        self._appendfsync = appendfsync
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start (or start again, on the same port and data) and wait until it listens."""
        log = self.directory / "redis.log"
        self._process = subprocess.Popen(
            [
                self._binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", self._appendfsync,
                "--save", "",
                "--logfile", str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_listening(self._process, self.port, log)

    def stop(self) -> None:
        """Stop by PID (SIGTERM: Redis flushes its append-only file and exits)."""
        if self._process is not None:
            _stop(self._process, signal.SIGTERM)
            self._process = None

    def close(self) -> None:
        """Stop and remove the data directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise ServerMissingError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin: "
            "install Debian's postgresql package (apt-get install -y postgresql; .ci/run does it)"
        )
    return Path(found[-1]).parent


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, trust authentication on loopback."""

    def __init__(self) -> None:
        self._bin = _postgres_bin()
        self.directory = Path(tempfile.mkdtemp(prefix="tci-postgres-"))
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._drop: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerMissingError(
                    "no postgres system user: install Debian's postgresql package"
                ) from None
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            # Drop to the postgres user by exec, so the PID we hold is the server's.
            self._drop = [
                "setpriv",
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--init-groups",
                "--",
            ]

    def url(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:PORT/DATABASE``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """``initdb`` once, then the server; wait until it listens."""
        data = self.directory / "data"
        log = self.directory / "postgres.log"
        if not data.exists():
            subprocess.run(
                [*self._drop, str(self._bin / "initdb"), "-D", str(data), "-U", "postgres",
                 "-A", "trust", "-E", "UTF8", "--no-sync"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
        with log.open("ab") as sink:
            self._process = subprocess.Popen(
                [*self._drop, str(self._bin / "postgres"), "-D", str(data),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.directory}",
                 "-c", "fsync=off", "-c", "max_connections=200"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )  # fmt: skip
        _wait_listening(self._process, self.port, log)
        # Listening is not accepting: the server refuses connections while it starts up.
        deadline = time.monotonic() + START_TIMEOUT
        ready = [str(self._bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(ready, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not ready: {log.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop by PID (SIGINT: PostgreSQL's fast shutdown)."""
        if self._process is not None:
            _stop(self._process, signal.SIGINT)
            self._process = None

    def close(self) -> None:
        """Stop and remove the cluster."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class TinyProxy:
    """Debian's ``tinyproxy``, a forward HTTP proxy, logging every request it forwards.

    ``allow=False`` makes it refuse this machine (``Deny 127.0.0.1``: a 403 to every request,
    to a CONNECT too); ``credentials=("user", "password")`` makes it ask for them (407).
    """

    def __init__(self, *, allow: bool = True, credentials: tuple[str, str] | None = None) -> None:
        binary = shutil.which("tinyproxy")
        if binary is None:
            raise ServerMissingError(
                "tinyproxy not found: install Debian's tinyproxy package "
                "(apt-get install -y tinyproxy; .ci/run does it)"
            )
        self._binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="tci-tinyproxy-"))
        self.port = free_port()
        self.log = self.directory / "tinyproxy.log"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            f'LogFile "{self.log}"',
            "LogLevel Info",
            "MaxClients 200",
            "DisableViaHeader Yes",
            f"{'Allow' if allow else 'Deny'} 127.0.0.1",
        ]
        if credentials is not None:
            lines.append(f"BasicAuth {credentials[0]} {credentials[1]}")
        self._config = self.directory / "tinyproxy.conf"
        self._config.write_text("\n".join(lines) + "\n")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def forwarded(self) -> list[str]:
        """The request lines it received, in order (``GET http://… HTTP/1.1``, ``CONNECT …``)."""
        if not self.log.exists():
            return []
        marker = "): "
        return [
            line.split(marker, 1)[1]
            for line in self.log.read_text(errors="replace").splitlines()
            if " Request (file descriptor " in line and marker in line
        ]

    def start(self) -> None:
        """Start in the foreground (``-d``) and wait until it listens."""
        self._process = subprocess.Popen(
            [self._binary, "-d", "-c", str(self._config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(self._process, self.port, self.log)

    def close(self) -> None:
        """Stop by PID and remove the directory."""
        if self._process is not None:
            _stop(self._process, signal.SIGTERM)
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
