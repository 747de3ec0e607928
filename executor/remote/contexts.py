"""Named contexts: servers (URL and token) the remote CLI knows, one of them current.

They live in ``$XDG_CONFIG_HOME/executor/contexts.yaml`` (``~/.config/executor/`` without
it). The file holds tokens, so it is written readable by its owner only (0600, in a 0700
folder, replaced whole through a new file so that no reader ever sees half of it), and a
file that others may read or write is refused, as ssh refuses such a key: someone who could
write it could point the CLI, and the token it sends, at a server of theirs.

::

    current: prod
    contexts:
      prod: {server: "https://executor.example.com", token: "..."}
      local: {server: "http://127.0.0.1:8080"}
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from executor.errors import ConfigError, ExecutorError

FILE_MODE = 0o600
DIR_MODE = 0o700


class ContextsError(ExecutorError):
    """The contexts file cannot be read or written, or names no such context: configuration
    to fix, so a usage error (exit 2)."""

    code = "contexts_error"
    exit_code = 2


@dataclass(frozen=True)
class Context:
    name: str
    server: str
    token: str | None = None


@dataclass
class Contexts:
    contexts: dict[str, Context] = field(default_factory=dict)
    current: str | None = None


def config_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    # The XDG specification: a relative XDG_CONFIG_HOME is invalid and to be ignored.
    root = Path(base) if os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".config"
    return root / "executor"


def default_path() -> Path:
    return config_dir() / "contexts.yaml"


def check_server(url: str, option: str = "--server") -> str:
    """``url`` without a trailing slash (nor surrounding spaces), when it is an http:// or
    https:// URL a request can be sent to; else a `ConfigError` naming ``option``."""
    url = url.strip()
    example = "(e.g. http://127.0.0.1:8080)"
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise ConfigError(option, f"{url!r} has a space or a control character; a URL has none {example}")
    if any(0xD800 <= ord(char) <= 0xDFFF for char in url):
        raise ConfigError(option, f"{url!r} is not valid Unicode text")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises when it is not a number from 0 to 65535)
    except ValueError as exc:  # an unclosed [IPv6 address, a port that is no number
        raise ConfigError(option, f"{url!r} is not a valid URL: {exc} {example}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(option, f"{url!r} is not an http:// or https:// URL {example}")
    if not parts.hostname:
        raise ConfigError(option, f"{url!r} names no host {example}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        # The API's paths are appended to it: a query or a fragment would swallow them.
        raise ConfigError(option, f"{url!r} has a query or a fragment; give the server's URL alone {example}")
    return url.rstrip("/")


def load(path: Path) -> Contexts:
    """The contexts of ``path``; none when it does not exist."""
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & 0o077:
                raise ContextsError(
                    f"{path} is open to other users (mode {stat.S_IMODE(mode):04o}); it holds tokens, "
                    f"so executor does not use it: chmod 600 {path}"
                )
            raw = file.read()
    except FileNotFoundError:
        return Contexts()
    except OSError as exc:
        raise ContextsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    import yaml  # here: a command given --server and --token never reads the file

    try:
        data = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ContextsError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from exc
    try:
        return _parse({} if data is None else data)
    except ValueError as exc:
        raise ContextsError(f"{path} is not a contexts file: {exc}") from exc


def _yaml_problem(exc: Exception) -> str:
    """What is wrong with a YAML text, on one line (PyYAML's message quotes the text below it)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return " ".join(str(exc).split())


def _parse(data: Any) -> Contexts:
    if not isinstance(data, dict):
        raise ValueError("expected a mapping with `contexts` and `current`")
    entries = data.get("contexts") or {}
    if not isinstance(entries, dict):
        raise ValueError("`contexts` is not a mapping of names to {server, token}")
    found = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("server"), str):
            raise ValueError(f"context {name!r} has no server")
        token = entry.get("token")
        if token is not None and (not isinstance(token, str | int) or isinstance(token, bool)):
            raise ValueError(f"the token of context {name!r} is not a string")
        found[str(name)] = Context(str(name), entry["server"], None if token is None else str(token))
    current = data.get("current")
    return Contexts(found, str(current) if current is not None and str(current) in found else None)


def save(path: Path, contexts: Contexts) -> None:
    """Write ``contexts`` to ``path``, owner-only, replacing the file whole."""
    import yaml

    data: dict[str, Any] = {
        "current": contexts.current,
        "contexts": {
            name: {"server": c.server, **({"token": c.token} if c.token else {})}
            for name, c in sorted(contexts.contexts.items())
        },
    }
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # mkstemp creates the file 0600 (no window where it is readable by others).
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".contexts-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                yaml.safe_dump(data, file, sort_keys=False)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, FILE_MODE)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ContextsError(f"cannot write {path}: {exc.strerror or exc}") from exc
