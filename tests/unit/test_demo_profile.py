"""`pgask demo` honours a [profiles.demo] the person wrote (e.g. read_write = true, as the
/mode advice says) instead of losing the demo server's address."""

from __future__ import annotations

from protocol.config import ProfileConfig
from ui import demo


def test_a_demo_profile_the_person_wrote_keeps_the_demo_server() -> None:
    class Server:
        def dsn_for(self, db: str) -> str:
            return f"postgresql://pgask@/{db}?host=/tmp/demo"

    own = ProfileConfig(read_write=True, statement_timeout_s=5)  # as /mode read-write advises
    got = demo.demo_profile(Server(), own)  # type: ignore[arg-type]
    assert got.dsn == "postgresql://pgask@/shop?host=/tmp/demo" and got.read_write
    assert got.statement_timeout_s == 5
    theirs = ProfileConfig(host="db.example.com", read_write=True)
    assert demo.demo_profile(Server(), theirs) is theirs  # type: ignore[arg-type]
