"""Contexts: the file's privacy, and where a remote command's server and token come from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from executor.errors import ConfigError
from executor.remote import contexts
from executor.remote.contexts import Context, Contexts, ContextsError
from executor.remote.options import DEFAULT_SERVER, Sources, Target, check_token, first_token, resolve


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


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://[::1", "is not a valid URL: Invalid IPv6 URL"),
        ("http://h:port", "is not a valid URL: Port could not be cast to integer value as 'port'"),
        ("http://h:99999", "is not a valid URL: Port out of range 0-65535"),
        ("http://exa mple.com", "has a space or a control character"),
        ("http://h\n:8080", "has a space or a control character"),
        ("http://\udcff.example", "is not valid Unicode text"),
        ("http://:8080", "names no host"),
        ("http://h:8080/?x=1", "has a query or a fragment"),
        ("http://h:8080#top", "has a query or a fragment"),
        ("ftp://h", "is not an http:// or https:// URL"),
    ],
)
def test_a_server_url_no_request_can_go_to_is_a_usage_error(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        contexts.check_server(url, "EXECUTOR_SERVER")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"invalid EXECUTOR_SERVER: {url!r} ")
    assert expected in caught.value.message and "\n" not in caught.value.message


def test_a_server_url_is_kept_without_trailing_slash_or_spaces() -> None:
    assert contexts.check_server(" http://[::1]:8080/ ") == "http://[::1]:8080"
    assert contexts.check_server("https://h.example/executor/") == "https://h.example/executor"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "contexts: {a: [\n",
            "is not valid YAML: expected the node content, but found '<stream end>' (line 2",
        ),
        ("\t- x\n", "is not valid YAML: "),
        ("- 1\n", "is not a contexts file: expected a mapping with `contexts` and `current`"),
        ("contexts: [1]\n", "is not a contexts file: `contexts` is not a mapping"),
        ("contexts: {a: {server: 'http://h', token: [1]}}\n", "the token of context 'a' is not a string"),
    ],
)
def test_a_broken_file_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    broken = tmp_path / "contexts.yaml"
    broken.write_text(text)
    broken.chmod(0o600)
    with pytest.raises(ContextsError) as caught:
        contexts.load(broken)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"{broken} ") and expected in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("token", "kind", "position"),
    [
        ("tökén", "a character that is not ASCII", 2),
        ("line\nbreak", "whitespace", 5),
        ("a b", "whitespace", 2),
        ("ab\x7f", "a control character", 3),
        ("\udcff", "a character that is not ASCII", 1),
    ],
)
def test_a_token_no_header_can_carry_names_its_source_not_its_value(
    token: str, kind: str, position: int
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_token(token, "EXECUTOR_API_TOKEN")
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        f"invalid EXECUTOR_API_TOKEN: the token has {kind} (character {position}); "
        "a token is printable ASCII, no spaces"
    )
    assert check_token("Ab0-._~+/=!", "--token") == "Ab0-._~+/=!"


def test_bad_values_name_where_they_came_from(tmp_path: Path) -> None:
    file = tmp_path / "contexts.yaml"
    contexts.save(
        file,
        Contexts(
            {
                "ipv6": Context("ipv6", "http://[::1"),
                "spaced": Context("spaced", "http://h:1", "bad token"),
            },
            current="spaced",
        ),
    )
    from_env = Sources(server="EXECUTOR_SERVER", token="EXECUTOR_API_TOKEN", context="EXECUTOR_CONTEXT")
    with pytest.raises(ConfigError, match=r"^invalid EXECUTOR_SERVER: 'http://h:x' is not a valid URL"):
        resolve("http://h:x", None, None, file, from_env)
    with pytest.raises(ConfigError, match=r"^invalid EXECUTOR_API_TOKEN: the token has whitespace"):
        resolve(None, "a\tb", None, file, from_env)
    with pytest.raises(ConfigError, match=r"^invalid EXECUTOR_CONTEXT: no context 'nope'"):
        resolve(None, None, "nope", file, from_env)
    with pytest.raises(
        ConfigError, match=f"^invalid server of context ipv6 in {file}: 'http://\\[::1' is not"
    ):
        resolve(None, None, "ipv6", file)
    with pytest.raises(
        ConfigError, match=f"^invalid token of context spaced in {file}: the token has whitespace"
    ):
        resolve(None, None, None, file)
    # A token given by flag or variable is sent instead, so the context's is never read.
    assert resolve(None, "good", None, file) == Target("http://h:1", "good", "spaced")
