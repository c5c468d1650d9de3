"""Passwords of Redis and PostgreSQL reach the workers without ever being on a command line.

Against servers that require them: a Redis with ``requirepass`` (a ``#`` in it, written
percent-encoded), and a PostgreSQL role that must give a password (``scram-sha-256`` in
``pg_hba.conf``, for that role only). A worker given both URLs through the environment
runs a sync, and its ``/proc/PID/cmdline`` holds neither password; PostgreSQL's own
``PGPASSWORD`` and password file work with a URL that holds none.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from urllib.parse import quote

import asyncpg
import attrs
import pytest
from redis.asyncio import Redis

from tests.distributed_support import SPAN, Worker, eventually, worker_env
from tests.helpers import assert_one_line_error, cli, fake_env
from tests.servers import PostgresServer, RedisServer
from tests.store_fixtures import api_records, stored_records
from twilio_conf_insights.cli import main
from twilio_conf_insights.testing import FakeTwilio

REDIS_PASSWORD = "Zq9-redis#pass word"
#: Reserved characters of URLs, but no ":": asyncpg reads a .pgpass file's "\:" literally.
PG_PASSWORD = "Zq9-pg@ss/w%rd#x"


@attrs.frozen
class PasswordRole:
    """A PostgreSQL role that must give its password, and a database it owns."""

    name: str
    password: str
    host: str
    port: int

    def url(self, *, with_password: bool) -> str:
        """The database's URL, with the password percent-encoded in it or without one."""
        secret = f":{quote(self.password, safe='')}" if with_password else ""
        return f"postgresql://{self.name}{secret}@{self.host}:{self.port}/{self.name}"


@pytest.fixture
async def password_role(postgres_server: PostgresServer) -> PasswordRole:
    """A new role and database; ``pg_hba.conf`` asks that role (only) for its password."""
    name = f"tci_pw_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(postgres_server.url())
    try:
        await conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PG_PASSWORD}'")
        await conn.execute(f'CREATE DATABASE "{name}" OWNER {name}')
        hba = postgres_server.directory / "data" / "pg_hba.conf"
        rule = f"host all {name} 127.0.0.1/32 scram-sha-256\n"
        await asyncio.to_thread(lambda: hba.write_text(rule + hba.read_text()))
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    role = PasswordRole(name, PG_PASSWORD, "127.0.0.1", postgres_server.port)

    async def refused_without_password() -> bool:
        # The reload is applied asynchronously: wait until the server asks for it.
        try:
            connection = await asyncpg.connect(
                role.url(with_password=False), password=None, passfile="/nonexistent"
            )
        except asyncpg.InvalidAuthorizationSpecificationError:  # password failed or missing
            return True
        await connection.close()
        return False

    await eventually(refused_without_password, "PostgreSQL asks the role for its password")
    return role


@pytest.fixture(params=["user part", "query"])
async def redis_with_password(redis_server: RedisServer, request: pytest.FixtureRequest) -> str:
    """The test's Redis, now requiring a password; its URL with the password percent-encoded
    in the user part (``redis://:…@host``) or in the query (``?password=…``)."""
    async with Redis.from_url(redis_server.url) as redis:
        await redis.config_set("requirepass", REDIS_PASSWORD)
    secret = quote(REDIS_PASSWORD, safe="")
    if request.param == "query":
        return f"redis://127.0.0.1:{redis_server.port}/0?password={secret}"
    return f"redis://:{secret}@127.0.0.1:{redis_server.port}/0"


def _secrets() -> list[bytes]:
    """Both passwords in every form they could take in a command line."""
    forms = [
        REDIS_PASSWORD,
        PG_PASSWORD,
        quote(REDIS_PASSWORD, safe=""),
        quote(PG_PASSWORD, safe=""),
    ]
    return [form.encode() for form in forms] + [b"Zq9"]


async def test_a_worker_gets_both_passwords_from_the_environment_only(
    recent_fake: FakeTwilio, redis_with_password: str, password_role: PasswordRole
) -> None:
    """Worker and `sync --broker` with URLs in the environment: it works, ps shows no password."""
    db = password_role.url(with_password=True)
    env = worker_env(recent_fake, redis_with_password, db)
    worker = await Worker.start(env)
    try:
        cmdline = await asyncio.to_thread(Path(f"/proc/{worker.process.pid}/cmdline").read_bytes)
        assert b"worker" in cmdline  # it is the worker's
        assert not [secret for secret in _secrets() if secret in cmdline]
        run = await cli(
            "sync", "--broker", "--created-after", (recent_fake.now - SPAN).isoformat(), env=env
        )
    finally:
        await worker.stop()
    assert run.returncode == 0, run.stderr
    assert await stored_records(db) == api_records(recent_fake)
    everything = "".join(worker.log) + run.stdout + run.stderr
    assert not [s for s in _secrets() if s.decode() in everything]
    assert "worker ready: broker redis://127.0.0.1:" in everything  # shown, without its password


@pytest.mark.parametrize("how", ["PGPASSWORD", "PGPASSFILE"])
async def test_postgres_own_password_sources_work_with_a_url_without_one(
    cli_fake: FakeTwilio, password_role: PasswordRole, tmp_path: Path, how: str
) -> None:
    """`sync` into a URL with no password: PGPASSWORD, or a .pgpass file, supplies it."""
    extra = {"PGPASSWORD": password_role.password}
    if how == "PGPASSFILE":
        passfile = tmp_path / "pgpass"
        escaped = password_role.password.replace("\\", "\\\\").replace(":", "\\:")
        line = f"{password_role.host}:{password_role.port}:*:{password_role.name}:{escaped}\n"
        await asyncio.to_thread(passfile.write_text, line)
        await asyncio.to_thread(passfile.chmod, 0o600)
        extra = {"PGPASSFILE": str(passfile)}
    db = password_role.url(with_password=False)
    start = (cli_fake.now - SPAN).isoformat()
    env = fake_env(cli_fake, TWILIO_CONF_INSIGHTS_DB=db, **extra)
    run = await cli(
        "sync", "--created-after", start, "--created-before", cli_fake.now.isoformat(), env=env
    )
    assert run.returncode == 0, run.stderr
    assert await stored_records(password_role.url(with_password=True)) == api_records(cli_fake)


async def test_without_any_password_the_store_is_one_line_saying_so(
    cli_fake: FakeTwilio, password_role: PasswordRole
) -> None:
    """The same URL with no password from anywhere: refused by the server, one line."""
    env = fake_env(cli_fake, TWILIO_CONF_INSIGHTS_DB=password_role.url(with_password=False))
    env["PGPASSFILE"] = "/nonexistent/pgpass"  # not root's ~/.pgpass either
    env.pop("PGPASSWORD", None)
    run = await cli("sync", env=env)
    assert run.returncode == 1
    assert_one_line_error(run)
    assert "password authentication failed" in run.stderr


def test_a_raw_hash_in_the_redis_password_is_one_line_without_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """TWILIO_CONF_INSIGHTS_BROKER with a raw # in its password: exit 2, how to write it."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")
    monkeypatch.setenv("TWILIO_CONF_INSIGHTS_BROKER", "redis://:Zq9pa#Zq9ss@127.0.0.1:6379/0")
    monkeypatch.setenv("TWILIO_CONF_INSIGHTS_DB", "postgresql://sync@127.0.0.1:1/insights")
    status = main(["worker"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "%23" in err
    assert "Zq9" not in err


async def test_the_html_report_names_a_postgres_store_without_its_password(
    cli_fake: FakeTwilio, database: str, tmp_path: Path
) -> None:
    """`report --db 'postgresql://…?password=…' --html`: the page names the store, no password."""
    start = (cli_fake.now - SPAN).isoformat()
    env = fake_env(cli_fake, TWILIO_CONF_INSIGHTS_DB=f"{database}?password=Zq9-in-the-query")
    run = await cli(
        "sync", "--created-after", start, "--created-before", cli_fake.now.isoformat(), env=env
    )
    assert run.returncode == 0, run.stderr
    page = tmp_path / "report.html"
    run = await cli("report", "--db", "--html", str(page), env=env)
    assert run.returncode == 0, run.stderr
    html = await asyncio.to_thread(page.read_text)
    assert f"Store {database}?password=&lt;redacted&gt;" in html
    assert "Zq9" not in html + run.stderr
