"""`executor instances list`: the instances serving the database (a fleet), and their health."""

from __future__ import annotations

from typing import Any

from executor.remote.options import Remote, group, help_text, remote_command

app = group(
    "instances",
    "List the Executor instances that share the server's database (a fleet), with their heartbeats.",
)


def _heartbeat(instance: dict[str, Any]) -> str:
    from executor.remote.output import span

    age = instance.get("heartbeat_age_seconds")
    if age is None:
        return ""
    timeout = instance.get("heartbeat_timeout")
    late = (
        " (late: taken for dead)"
        if timeout is not None and age > timeout and instance["state"] != "stopped"
        else ""
    )
    return f"{span(age)} ago{late}"


@app.command(
    "list",
    help=help_text(
        "List every instance registered on the database, oldest first (stopped ones too): host, "
        "pid, version, state, when it last beat, and how many steps it runs now.",
        "Example: executor instances list",
    ),
)
@remote_command
def list_instances(remote: Remote) -> None:
    from executor.remote import output

    found = remote.client.get("/instances")["instances"]
    output.listing(
        found,
        remote.form,
        [
            output.Column("INSTANCE", lambda i: i["id"], no_wrap=True),
            output.Column("HOST", lambda i: i["host"]),
            output.Column("PID", lambda i: str(i["pid"])),
            output.Column("VERSION", lambda i: i["version"]),
            output.Column("STATE", lambda i: output.status(i["state"])),
            output.Column("STARTED", lambda i: output.moment(i.get("started_at")), no_wrap=True),
            output.Column("HEARTBEAT", _heartbeat),
            output.Column("STEPS", lambda i: str(i["steps_in_flight"])),
        ],
        empty="no instances",
    )
