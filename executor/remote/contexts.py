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
    """The contexts file cannot be read or written, or names no such context."""

    code = "contexts_error"


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
    """``url`` without a trailing slash, when it is an http:// or https:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(option, f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)")
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
        raise ContextsError(f"cannot read {path}: {exc.strerror}") from exc
    import yaml  # here: a command given --server and --token never reads the file

    try:
        data = yaml.safe_load(raw) or {}
        return _parse(data)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
        raise ContextsError(f"{path} is not a contexts file: {exc}") from exc


def _parse(data: Any) -> Contexts:
    if not isinstance(data, dict):
        raise ValueError("expected a mapping with `contexts` and `current`")
    found = {}
    for name, entry in (data.get("contexts") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("server"), str):
            raise ValueError(f"context {name!r} has no server")
        token = entry.get("token")
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
        raise ContextsError(f"cannot write {path}: {exc.strerror}") from exc
