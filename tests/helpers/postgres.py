"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` into a temporary folder, ``pg_ctl start`` on
127.0.0.1 at a free port (its socket in that folder too), trust authentication, stopped and deleted afterwards.

Run as root (CI), the server runs as the ``postgres`` system user (``runuser -u postgres --``), the folder owned by
it: PostgreSQL refuses to run as root. The binaries are found on PATH or in ``/usr/lib/postgresql/<version>/bin``
(Debian's ``postgresql`` package); :func:`binaries` says why there are none.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REQUIRE_ENV = "BRAINBENCH_REQUIRE_SERVICES"  # "1": tests that need PostgreSQL fail where it is absent, not skip


def binaries(debian: Path = Path("/usr/lib/postgresql"), path: str | None = None) -> tuple[Path | None, str]:
    """(the folder holding initdb and pg_ctl, or None; why not, when None): ``PATH`` (or ``path``) first, then the
    newest version under ``debian``."""
    found = shutil.which("pg_ctl", path=path)
    if found and shutil.which("initdb", path=path):
        return Path(found).parent, ""
    versions = sorted((p for p in debian.glob("*/bin/pg_ctl") if p.parts[-3].isdigit()),
                      key=lambda p: int(p.parts[-3]), reverse=True)
    for pg_ctl in versions:
        if (pg_ctl.parent / "initdb").exists():
            return pg_ctl.parent, ""
    return None, ("PostgreSQL's server binaries (initdb, pg_ctl) are neither on PATH nor in "
                  "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)")


def missing(why: str) -> None:
    """A test that needs PostgreSQL where it is missing: skipped with ``why``, or failed under
    ``BRAINBENCH_REQUIRE_SERVICES=1`` (CI, where it must be there)."""
    import pytest

    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} ({REQUIRE_ENV}=1 requires them)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server(*, fsync: bool = False) -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (psycopg2, user ``postgres``, database ``postgres``); stop it.
    ``fsync`` off (tests) skips the flushes to disk that make a commit durable; benchmarks keep them, as a real
    server does."""
    bindir, why = binaries()
    if bindir is None:
        raise RuntimeError(why)
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="bb-postgres-"))
    if as_root:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError("running as root needs the 'postgres' system user to run the server as "
                               "(Debian's postgresql package creates it)") from None
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    log = folder / "server.log"

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stdout[-2000:]}"
                               f"{done.stderr[-2000:]}{tail}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
            "--locale=C")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
            f"-h 127.0.0.1 -p {port} -k {folder} -c fsync={'on' if fsync else 'off'} -c max_connections=100", "start")
        try:
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """A new empty database ``name`` on the server at ``server_url``; its URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return url.set(database=name).render_as_string(hide_password=False)
