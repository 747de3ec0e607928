"""The options every remote command takes, where the server and token come from, and how
a remote command reports a failure.

The server and the token are each taken from the first of: the flag (``--server``,
``--token``), the variable (``EXECUTOR_SERVER``, ``EXECUTOR_API_TOKEN``), the context
(``--context NAME``, ``EXECUTOR_CONTEXT``, else the current one), the default
(``http://127.0.0.1:8080``, no token). A context's token goes only to that context's server:
``--server`` pointing elsewhere never receives it.

Heavy modules (httpx, rich, yaml) are imported when a remote command runs, so that
``executor serve`` and the other local commands start as fast as before.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from executor.errors import ConfigError, ExecutorError

if TYPE_CHECKING:
    from executor.remote.client import Client

DEFAULT_SERVER = "http://127.0.0.1:8080"
EXIT_INTERRUPTED = 130


class Format(StrEnum):
    """``-o``: what a remote command prints on stdout."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"


@dataclass(frozen=True)
class Target:
    server: str
    token: str | None
    context: str | None  # the context it came from, if any


def first_token(value: str | None) -> str | None:
    """EXECUTOR_API_TOKEN may list several tokens, comma-separated, as the service takes it
    (for rotation): any of them will do, the first is sent."""
    if value is None:
        return None
    tokens = [token.strip() for token in value.split(",") if token.strip()]
    return tokens[0] if tokens else None


def resolve(server: str | None, token: str | None, context: str | None, path: Path) -> Target:
    """The server and token a remote command uses (precedence in the module's docstring)."""
    from executor.remote import contexts

    token = first_token(token)
    chosen = None
    if context is not None or server is None or token is None:
        known = contexts.load(path)
        if context is not None:
            chosen = known.contexts.get(context)
            if chosen is None:
                names = ", ".join(sorted(known.contexts)) or "none yet: executor context add"
                raise ConfigError("--context", f"no context {context!r} in {path} (known: {names})")
        elif known.current is not None:
            chosen = known.contexts[known.current]
    if server is not None:
        server = contexts.check_server(server)
    elif chosen is not None:
        server = contexts.check_server(chosen.server, f"context {chosen.name}")
    else:
        server = DEFAULT_SERVER
    if chosen is not None and chosen.server.rstrip("/") != server:
        chosen = None  # its token is for its own server only
    if token is None and chosen is not None:
        token = chosen.token
    return Target(server, token, None if chosen is None else chosen.name)


@dataclass
class Remote:
    """What a remote command works with: the output format, and a client of the server
    (connected on first use)."""

    form: Format
    server: str | None = None
    token: str | None = None
    context: str | None = None
    _target: Target | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    @property
    def target(self) -> Target:
        if self._target is None:
            from executor.remote import contexts

            self._target = resolve(self.server, self.token, self.context, contexts.default_path())
        return self._target

    @property
    def client(self) -> Client:
        if self._client is None:
            from executor.remote.client import Client

            target = self.target
            self._client = Client(target.server, target.token)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# The options every remote command takes, after its own (typer reads them from the
# command's signature).
@cache
def _global_options() -> tuple[inspect.Parameter, ...]:
    def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    return (
        option(
            "server",
            Annotated[
                str | None,
                typer.Option(
                    "--server",
                    envvar="EXECUTOR_SERVER",
                    metavar="URL",
                    help=f"The Executor to talk to (default: the context's, else {DEFAULT_SERVER}).",
                    show_default=False,
                ),
            ],
            None,
        ),
        option(
            "token",
            Annotated[
                str | None,
                typer.Option(
                    "--token",
                    envvar="EXECUTOR_API_TOKEN",
                    metavar="TOKEN",
                    help="Its API token (default: the context's). Prefer the variable: a flag shows in ps.",
                    show_default=False,
                ),
            ],
            None,
        ),
        option(
            "context",
            Annotated[
                str | None,
                typer.Option(
                    "--context",
                    envvar="EXECUTOR_CONTEXT",
                    metavar="NAME",
                    help="Use this context's server and token (default: the current context).",
                    show_default=False,
                ),
            ],
            None,
        ),
        option(
            "output",
            Annotated[
                Format,
                typer.Option(
                    "-o",
                    "--output",
                    help="table (for people), json (one document), jsonl (one object per line).",
                ),
            ],
            Format.TABLE,
        ),
    )


def remote_command(func: Callable[..., None]) -> Callable[..., None]:
    """Make ``func(remote, **own)`` a command taking its own options plus the global ones;
    it gets a `Remote`, and a failure becomes one line on stderr and an exit code."""
    signature = inspect.signature(func, eval_str=True)
    own = list(signature.parameters.values())[1:]

    def command(**given: Any) -> None:
        remote = Remote(
            form=given.pop("output"),
            server=given.pop("server"),
            token=given.pop("token"),
            context=given.pop("context"),
        )
        with reported():
            try:
                func(remote, **given)
            finally:
                remote.close()

    command.__name__ = func.__name__
    command.__qualname__ = func.__qualname__
    command.__doc__ = func.__doc__
    command.__module__ = func.__module__
    command.__signature__ = signature.replace(parameters=[*own, *_global_options()])  # type: ignore[attr-defined]
    return command


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``executor: error: message`` on stderr; the `typer.Exit` to raise."""
    typer.echo(f"executor: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """One line on stderr for an error (exit 1; 2 for a bad option), 130 on Ctrl-C, and
    quiet when the reader of stdout went away (``| head``)."""
    try:
        yield
    except ExecutorError as exc:
        raise fail(exc.message, exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


def help_text(*paragraphs: str) -> str:
    """A command's help: paragraphs on one line each (the renderer keeps a docstring's line
    breaks), examples last."""
    return "\n\n".join(paragraphs)


def group(name: str, summary: str, *paragraphs: str) -> typer.Typer:
    """A command group (``executor runs ...``), set up as the main app is."""
    return typer.Typer(
        name=name,
        help=help_text(summary, *paragraphs),
        short_help=summary,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
