"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, ``initdb`` into a temporary folder,
listening on 127.0.0.1 only (and a private Unix socket folder), password authentication over TCP.

Run as root (CI), the server runs as the ``postgres`` user (PostgreSQL refuses to run as root). The admin
is ``postgres`` with :data:`ADMIN_PASSWORD`. ``stop()`` / ``start()`` keep the data folder, so a test can
take the database away for a while and bring it back.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ADMIN_PASSWORD = "hq-admin-s3cret"


def postgres_bin_dir() -> Path:
    """Newest installed major version's binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: install Debian's `postgresql` package "
                       "(.ci/run does)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self.bin = postgres_bin_dir()
        self.root = Path(root or tempfile.mkdtemp(prefix="spg-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = port or _free_port()
        self._as_postgres = os.geteuid() == 0 if hasattr(os, "geteuid") else False

    # -- helpers -------------------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def url(self, user: str = "postgres", password: str = ADMIN_PASSWORD, dbname: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        return self.url()

    # -- lifecycle -----------------------------------------------------------------------------------
    def init(self) -> PgServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.sock}'\nfsync = off\nmax_connections = 400\n"
                    "shared_buffers = 64MB\n")
        return self

    def start(self) -> PgServer:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on port {self.port} did not come up; see {self.root}/server.log")
            time.sleep(0.1)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
