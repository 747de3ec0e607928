"""The options every remote command takes, where the server and token come from, and how
a remote command reports a failure.

The server and the token are each taken from the first of: the flag (``--server``,
``--token``), the variable (``EXECUTOR_SERVER``, ``EXECUTOR_API_TOKEN``), the context
(``--context NAME``, ``EXECUTOR_CONTEXT``, else the current one), the default
(``http://127.0.0.1:8080``, no token). A context's token goes only to that context's server:
``--server`` pointing elsewhere never receives it. A server that is not an http(s) URL, or a
token an Authorization header cannot carry, is a usage error naming where it came from.

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
CONTEXT = "_click_context"  # the parameter a remote command's click context is passed in


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


@dataclass(frozen=True)
class Sources:
    """Where the server, the token and the context were given: the flag or the variable
    (typer reads both into one parameter), as an error about them names it."""

    server: str = "--server"
    token: str = "--token"
    context: str = "--context"


def first_token(value: str | None) -> str | None:
    """EXECUTOR_API_TOKEN may list several tokens, comma-separated, as the service takes it
    (for rotation): any of them will do, the first is sent."""
    if value is None:
        return None
    tokens = [token.strip() for token in value.split(",") if token.strip()]
    return tokens[0] if tokens else None


def check_token(token: str | None, source: str) -> str | None:
    """``token`` when an ``Authorization: Bearer`` header can carry it as it is: printable
    ASCII, no spaces (a token holding others is a typo, or a file read whole)."""
    for position, char in enumerate(token or "", start=1):
        if "!" <= char <= "~":
            continue
        if char.isspace():
            kind = "whitespace"
        elif char.isascii():
            kind = "a control character"
        else:
            kind = "a character that is not ASCII"
        # Where, not which: the token is a secret, and so is any part of it.
        raise ConfigError(
            source, f"the token has {kind} (character {position}); a token is printable ASCII, no spaces"
        )
    return token


def resolve(
    server: str | None, token: str | None, context: str | None, path: Path, sources: Sources = Sources()
) -> Target:
    """The server and token a remote command uses (precedence in the module's docstring)."""
    from executor.remote import contexts

    token = check_token(first_token(token), sources.token)
    chosen = None
    if context is not None or server is None or token is None:
        known = contexts.load(path)
        if context is not None:
            chosen = known.contexts.get(context)
            if chosen is None:
                names = ", ".join(sorted(known.contexts)) or "none yet: executor context add"
                raise ConfigError(sources.context, f"no context {context!r} in {path} (known: {names})")
        elif known.current is not None:
            chosen = known.contexts[known.current]
    if server is not None:
        server = contexts.check_server(server, sources.server)
    elif chosen is not None:
        server = contexts.check_server(chosen.server, f"server of context {chosen.name} in {path}")
    else:
        server = DEFAULT_SERVER
    if chosen is not None and chosen.server.strip().rstrip("/") != server:
        chosen = None  # its token is for its own server only
    if token is None and chosen is not None:
        token = check_token(first_token(chosen.token), f"token of context {chosen.name} in {path}")
    return Target(server, token, None if chosen is None else chosen.name)


@dataclass
class Remote:
    """What a remote command works with: the output format, and a client of the server
    (connected on first use)."""

    form: Format
    server: str | None = None
    token: str | None = None
    context: str | None = None
    sources: Sources = Sources()
    _target: Target | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    @property
    def target(self) -> Target:
        if self._target is None:
            from executor.remote import contexts

            self._target = resolve(
                self.server, self.token, self.context, contexts.default_path(), self.sources
            )
        return self._target

    @property
    def client(self) -> Client:
        if self._client is None:
            from executor.remote.client import Client

            target = self.target
            self._client = Client(target.server, target.token)
        return self._client

    @property
    def answered(self) -> str | None:
        """The last request the server answered with success (METHOD PATH), if any."""
        return None if self._client is None else self._client.answered

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
        ctx: typer.Context = given.pop(CONTEXT)
        with reported():
            sendable(ctx, given)
            remote = Remote(
                form=given.pop("output"),
                server=given.pop("server"),
                token=given.pop("token"),
                context=given.pop("context"),
                sources=Sources(*(given_as(ctx, name) for name in ("server", "token", "context"))),
            )
            try:
                func(remote, **given)
            except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
                # A command reads the fields the API documents; an answer without them is not
                # the API's. (Before any answer, the same error is a bug: let it show.)
                if remote.answered is None:
                    raise
                from executor.remote.client import UnexpectedAnswer, what_was_wrong

                raise UnexpectedAnswer(remote.target.server, remote.answered, what_was_wrong(exc)) from exc
            finally:
                remote.close()

    command.__name__ = func.__name__
    command.__qualname__ = func.__qualname__
    command.__doc__ = func.__doc__
    command.__module__ = func.__module__
    # The click context too (typer passes it to a parameter so annotated): it says whether a
    # value came from a flag or from the environment.
    context = inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    command.__signature__ = signature.replace(parameters=[*own, *_global_options(), context])  # type: ignore[attr-defined]
    return command


def given_as(ctx: typer.Context, name: str) -> str:
    """How the parameter ``name`` of the running command was given, as the user would write
    it: its variable when it came from the environment, else its first flag (an argument:
    its metavar)."""
    param = next((p for p in ctx.command.params if p.name == name), None)
    if param is None:
        return name
    if param.param_type_name != "option":
        return (param.metavar or name.upper()).removesuffix("...").strip("[]")
    source = ctx.get_parameter_source(name)
    if isinstance(param.envvar, str) and source is not None and source.name == "ENVIRONMENT":
        return param.envvar
    return param.opts[0]


def sendable(ctx: typer.Context, given: dict[str, Any]) -> None:
    """Refuse a text value the terminal could not decode (see `values.check_text`), naming
    it: sent, it would break the request. Files are given as paths, which may be any bytes."""
    from executor.remote.values import check_text

    for name, value in given.items():
        if name == "token":
            continue  # `check_token` says what is wrong with it without quoting any of it
        for text in value if isinstance(value, list | tuple) else (value,):
            if isinstance(text, str):
                check_text(text, given_as(ctx, name))


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
        _drop_stdout()
        raise typer.Exit(0) from None
    except OSError as exc:
        # Every read of a file and every request wraps its own: this is stdout failing
        # (a full disk).
        _drop_stdout()
        raise fail(f"cannot write the output: {exc.strerror or exc}") from None


def _drop_stdout() -> None:
    """Point stdout at /dev/null: Python would complain again when it flushes it at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's captured stdout)
        pass


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
