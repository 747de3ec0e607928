"""Contexts: the file's privacy, and where a remote command's server and token come from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from executor.errors import ConfigError
from executor.remote import contexts
from executor.remote.contexts import Context, Contexts, ContextsError
from executor.remote.options import DEFAULT_SERVER, Target, first_token, resolve


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "config" / "executor" / "contexts.yaml"
    contexts.save(
        file,
        Contexts(
            {
                "prod": Context("prod", "https://prod.example.com", "prod-token"),
                "dev": Context("dev", "http://127.0.0.1:9000/"),
            },
            current="prod",
        ),
    )
    return file


def test_saved_owner_only_and_read_back(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = contexts.load(path)
    assert loaded.current == "prod"
    assert loaded.contexts["prod"] == Context("prod", "https://prod.example.com", "prod-token")
    assert [p.name for p in path.parent.iterdir()] == ["contexts.yaml"]  # no temporary left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o666])
def test_a_file_others_may_read_or_write_is_refused(path: Path, mode: int) -> None:
    path.chmod(mode)
    with pytest.raises(ContextsError, match=f"open to other users \\(mode {mode:04o}\\).*chmod 600"):
        contexts.load(path)


def test_a_missing_file_is_no_contexts_and_a_broken_one_says_so(tmp_path: Path) -> None:
    assert contexts.load(tmp_path / "none.yaml") == Contexts()
    broken = tmp_path / "broken.yaml"
    broken.write_text("contexts: {x: {token: t}}\n")
    broken.chmod(0o600)
    with pytest.raises(ContextsError, match="context 'x' has no server"):
        contexts.load(broken)


def test_the_folder_follows_xdg(tmp_path: Path) -> None:
    assert contexts.config_dir({"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}) == Path("/xdg/executor")
    assert contexts.config_dir({"HOME": "/home/u"}) == Path("/home/u/.config/executor")
    # A relative XDG_CONFIG_HOME is invalid: the specification says to ignore it.
    assert contexts.config_dir({"XDG_CONFIG_HOME": "rel", "HOME": "/home/u"}) == Path(
        "/home/u/.config/executor"
    )


def test_precedence_flag_or_variable_then_context_then_default(path: Path, tmp_path: Path) -> None:
    assert resolve(None, None, None, path) == Target("https://prod.example.com", "prod-token", "prod")
    assert resolve(None, None, "dev", path) == Target("http://127.0.0.1:9000", None, "dev")
    assert resolve(None, "mine", None, path) == Target("https://prod.example.com", "mine", "prod")
    assert resolve("http://other:1", None, "dev", path) == Target("http://other:1", None, None)
    assert resolve(None, None, None, tmp_path / "none.yaml") == Target(DEFAULT_SERVER, None, None)


def test_a_contexts_token_goes_to_its_server_only(path: Path) -> None:
    assert resolve("https://evil.example.com", None, None, path).token is None
    assert resolve("https://prod.example.com/", None, None, path).token == "prod-token"


def test_bad_values_are_usage_errors(path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid --context: no context 'nope'.*known: dev, prod"):
        resolve(None, None, "nope", path)
    with pytest.raises(ConfigError, match="invalid --server: 'localhost:8080' is not an http"):
        resolve("localhost:8080", None, None, path)


def test_the_flags_bypass_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "contexts.yaml"
    broken.write_text("{")
    broken.chmod(0o644)
    assert resolve("http://h:1", "t", None, broken) == Target("http://h:1", "t", None)


def test_first_token_of_a_rotation() -> None:
    assert first_token("a, b") == "a"
    assert first_token(" , ") is None
    assert first_token(None) is None
