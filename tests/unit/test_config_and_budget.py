"""Configuration errors name the file, the key and the fix; the restart budget is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.supervisor_session import SessionStore
from actors.supervisor_tree import RestartBudget, load_tree
from protocol.config import STARTER, load_config, parse_config, resolve_profile, starting_mode
from protocol.errors import ConfigError, PgaskError
from protocol.messages import (
    Pane,
    SessionAddTurn,
    SessionClear,
    SessionPin,
    SessionSetPane,
    SessionUnpin,
    Turn,
)

CONFIGS = Path(__file__).parent.parent / "fixtures" / "configs"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "key", "why"),
    [
        ("bad_type.toml", "model.timeout_s", "Expected `float`"),
        ("bad_unknown_key.toml", "profiles.prod.hots", "unknown field `hots`"),
        ("bad_toml.toml", "not valid TOML", "line 1"),
        ("bad_profile_name.toml", "[profiles.my prod]", "letters, digits"),
        ("bad_mode.toml", "safety.default_mode", "Invalid enum value 'yolo'"),
    ],
)
def test_bad_config_names_file_and_key(name, key, why):
    path = CONFIGS / name
    with pytest.raises(ConfigError) as info:
        load_config(path, read_dotenv=False)
    err = info.value
    assert str(path) in err.message
    assert key in err.message
    assert why in err.why
    assert err.hint


def test_starter_config_parses_and_names_every_section():
    cfg = parse_config(STARTER.encode(), "starter")
    assert cfg.safety.default_mode == "read-only"
    for section in ("[model]", "[safety]", "[privacy]", "[profiles."):
        assert section in STARTER


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(tmp_path / "nope.toml", read_dotenv=False)
    assert "pgask config init" in info.value.hint


def test_env_overrides_model(tmp_path, monkeypatch):
    monkeypatch.setenv("PGASK_MODEL", "llama3")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    cfg = load_config(None, read_dotenv=False)
    assert (cfg.model.model, cfg.model.base_url) == ("llama3", "http://localhost:11434/v1")


def test_dotenv_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PGASK_MODEL=from-dotenv\n")
    monkeypatch.delenv("PGASK_MODEL", raising=False)
    assert load_config(None).model.model == "from-dotenv"
    monkeypatch.delenv("PGASK_MODEL", raising=False)


def test_unknown_profile_suggests_the_close_one():
    cfg = parse_config(b'[profiles.analytics]\ndsn = "postgresql:///a"\n', "cfg.toml")
    with pytest.raises(ConfigError, match="Did you mean 'analytics'") as info:
        resolve_profile(cfg, "analytcs")
    assert "cfg.toml" in info.value.hint


def test_url_is_an_adhoc_profile():
    cfg = parse_config(b"", "cfg.toml")
    name, profile = resolve_profile(cfg, "postgresql://me@db.example.com:5432/shop")
    assert name == "me@db.example.com:5432/shop" and profile.dsn.endswith("/shop")
    assert name in cfg.profiles
    # a URL the person typed may be switched to read-write, but starts read-only
    assert profile.read_write is True and starting_mode(cfg, name) == "read-only"


def test_read_write_start_needs_both_the_profile_and_the_safety_default():
    toml = b'[profiles.rw]\ndsn = "x"\nread_write = true\n[profiles.ro]\ndsn = "y"\n'
    cfg = parse_config(toml, "cfg.toml")
    assert (starting_mode(cfg, "rw"), starting_mode(cfg, "ro")) == ("read-only", "read-only")
    cfg = parse_config(b'[safety]\ndefault_mode = "read-write"\n' + toml, "cfg.toml")
    assert (starting_mode(cfg, "rw"), starting_mode(cfg, "ro")) == ("read-write", "read-only")
    assert starting_mode(cfg, "unknown") == "read-only"


def test_supervisor_toml_lists_the_actors():
    tree = load_tree(ROOT / "supervisor.toml")
    assert [c.id for c in tree.children] == ["guard", "planner", "exporter", "executor"]
    assert tree.supervisor.intensity == 3 and tree.supervisor.period_s == 30


def test_restart_budget_stops_on_the_fourth_crash_within_the_period():
    budget = RestartBudget(intensity=3, period_s=30)
    assert [budget.allow(t) for t in (0, 10, 20)] == [True, True, True]
    assert budget.allow(29) is False


def test_restart_budget_forgets_crashes_older_than_the_period():
    budget = RestartBudget(intensity=3, period_s=30)
    assert all(budget.allow(t) for t in (0, 31, 62, 93, 124))


def test_session_store_persists_and_redacts_nothing_it_was_not_given(tmp_path):
    store = SessionStore.open(tmp_path)
    store.apply(SessionAddTurn(turn=Turn(question="q1", sql="SELECT $1")))
    store.apply(SessionPin(text="fiscal year starts in April"))
    store.apply(SessionSetPane(index=1, pane=Pane(profile="b")))
    again = SessionStore.open(tmp_path)
    assert again.id == store.id
    assert [t.question for t in again.turns] == ["q1"]
    assert again.pins == ["fiscal year starts in April"]
    assert [p.profile for p in again.panes] == ["b", "b"]
    again.apply(SessionClear())
    assert again.turns == [] and again.pins
    with pytest.raises(PgaskError, match="no pin number 5"):
        again.apply(SessionUnpin(index=5))


def test_session_store_without_history_keeps_turns_off_disk(tmp_path):
    store = SessionStore.open(tmp_path, store_history=False)
    store.apply(SessionAddTurn(turn=Turn(question="secret question")))
    assert "secret question" not in (tmp_path / "session.json").read_text()
    assert store.turns  # still in memory for this run


def test_corrupt_session_file_is_kept_aside(tmp_path):
    (tmp_path / "session.json").write_text("{not json")
    store = SessionStore.open(tmp_path)
    assert store.turns == []
    assert (tmp_path / "session.corrupt.json").exists()


def test_url_profiles_differing_in_anything_that_picks_server_or_role_are_distinct():
    cfg = parse_config(b"", "cfg.toml")
    urls = [
        "postgresql://reader@h:5432/db",
        "postgresql://admin@h:5432/db",  # another role
        "postgresql://reader@h:6432/db",  # another server
        "postgresql://reader@h2:5432/db",
        "postgresql://reader@h:5432/db2",
        "postgresql://reader@h:5432/db?options=-c%20role%3Dadmin",  # an option that changes it
    ]
    names = [resolve_profile(cfg, url)[0] for url in urls]
    assert len(set(names)) == len(urls)
    assert names[:3] == ["reader@h:5432/db", "admin@h:5432/db", "reader@h:6432/db"]
    assert cfg.profiles[names[1]].dsn == urls[1] and cfg.profiles[names[2]].dsn == urls[2]
    # the same identity spelt through query options is the same profile
    assert resolve_profile(cfg, "postgresql:///db?host=h&user=reader&port=5432")[0] == names[0]
