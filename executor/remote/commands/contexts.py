"""`executor context ...`: the named servers (URL and token) remote commands talk to."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from executor.remote.options import Format, group, help_text, reported

app = group(
    "context",
    "Name the Executors you talk to (server URL and token) and choose the current one.",
    "Contexts live in $XDG_CONFIG_HOME/executor/contexts.yaml (~/.config/executor/contexts.yaml), "
    "readable by you only (mode 0600); a file others can read or write is refused. A remote command "
    "takes its server and token from --server/--token, else EXECUTOR_SERVER/EXECUTOR_API_TOKEN, "
    "else --context NAME (or EXECUTOR_CONTEXT), else the current context, else http://127.0.0.1:8080.",
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The context's name.", show_default=False)]
OutputOption = Annotated[
    Format, typer.Option("-o", "--output", help="table (for people), json (one document), jsonl.")
]


@app.command(
    "add",
    help=help_text(
        "Add a context (or replace the one of that name). The first one added becomes current; "
        "--use makes this one current.",
        "The token is read from --token-file (- for stdin) or EXECUTOR_API_TOKEN, so that it "
        "stays out of your shell history; --token works too.",
        "Example: executor context add prod --server https://executor.example.com --token-file ~/prod.token --use",
    ),
)
def add(
    ctx: typer.Context,
    name: NameArgument,
    server: Annotated[
        str, typer.Option("--server", metavar="URL", help="The server's URL.", show_default=False)
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="EXECUTOR_API_TOKEN", metavar="TOKEN", help="Its API token.", show_default=False
        ),
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option("--token-file", metavar="FILE", help="Read the API token from FILE (- for stdin)."),
    ] = None,
    use: Annotated[bool, typer.Option("--use", help="Make it the current context.")] = False,
) -> None:
    from executor.remote import contexts
    from executor.remote.options import check_token, first_token, given_as
    from executor.remote.values import read_text

    with reported():
        url = contexts.check_server(server)
        source = given_as(ctx, "token")
        if token_file is not None:
            token, source = read_text(token_file, "--token-file").strip(), "--token-file"
        token = check_token(first_token(token), source)
        path = contexts.default_path()
        known = contexts.load(path)
        replaced = name in known.contexts
        known.contexts[name] = contexts.Context(name, url, token)
        if use or known.current is None:
            known.current = name
        contexts.save(path, known)
        current = " (current)" if known.current == name else ""
        typer.echo(f"{'replaced' if replaced else 'added'} context {name}: {url}{current}", err=True)


@app.command(
    "use",
    help=help_text("Make NAME the current context.", "Example: executor context use prod"),
)
def use(name: NameArgument) -> None:
    from executor.remote import contexts

    with reported():
        path = contexts.default_path()
        known = contexts.load(path)
        if name not in known.contexts:
            raise contexts.ContextsError(f"no context {name!r} in {path} (executor context list)")
        known.current = name
        contexts.save(path, known)
        typer.echo(f"current context: {name} ({known.contexts[name].server})", err=True)


@app.command(
    "list",
    help=help_text(
        "List the contexts; * marks the current one. Tokens are never printed, only whether one is set.",
        "Example: executor context list",
    ),
)
def list_contexts(output_format: OutputOption = Format.TABLE) -> None:
    from executor.remote import contexts, output

    with reported():
        path = contexts.default_path()
        known = contexts.load(path)
        items: list[dict[str, Any]] = [
            {
                "name": c.name,
                "server": c.server,
                "token": c.token is not None,
                "current": c.name == known.current,
            }
            for c in sorted(known.contexts.values(), key=lambda c: c.name)
        ]
        output.listing(
            items,
            output_format,
            [
                output.Column("", lambda c: "*" if c["current"] else ""),
                output.Column("NAME", lambda c: c["name"], no_wrap=True),
                output.Column("SERVER", lambda c: c["server"], no_wrap=True),
                output.Column("TOKEN", lambda c: "set" if c["token"] else ""),
            ],
            empty=f"no contexts in {path} (executor context add NAME --server URL)",
        )


@app.command(
    "remove",
    help=help_text(
        "Remove a context (and its token). Removing the current one leaves none current.",
        "Example: executor context remove staging",
    ),
)
def remove(name: NameArgument) -> None:
    from executor.remote import contexts

    with reported():
        path = contexts.default_path()
        known = contexts.load(path)
        if known.contexts.pop(name, None) is None:
            raise contexts.ContextsError(f"no context {name!r} in {path}")
        if known.current == name:
            known.current = None
        contexts.save(path, known)
        typer.echo(f"removed context {name}", err=True)
