"""OpenTelemetry traces from the real service (a process), received by an OTLP/HTTP receiver
on loopback that decodes what it gets: a span per run and per attempt, the run's parent from
the ``traceparent`` sent with ``POST /runs``, the context handed on to `http` and shell steps,
a run continued by another instance after ``kill -9`` in the same trace, spans flushed on
SIGTERM, and nothing of OpenTelemetry imported when no endpoint is set."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from executor.tracing import ENDPOINT_VARIABLES, parse_traceparent, run_trace
from tests.support.http_server import RecordingServer
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.process import CLI, ROOT, Server, clean_env
from tests.support.waiting import wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN}-01"

CALLS = """
name: traced
inputs:
  url: {type: string}
steps:
  - id: call
    action: http
    with: {url: "{{ inputs.url }}/hook", method: POST, json: {}}
  - id: shell
    action: shell
    needs: [call]
    with: {command: "echo $TRACEPARENT"}
"""

# The first step ends on the first instance; the second finishes only on a later attempt
# (the first is cut short by kill -9), on the instance started after it.
CONTINUED = """
name: continued
steps:
  - id: first
    action: noop
  - id: second
    action: shell
    needs: [first]
    with: {command: "test $EXECUTOR_ATTEMPT -gt 1 || sleep 60"}
"""


def serve(
    servers: list[Server], workdir: Path, receiver: OtlpReceiver, delay_ms: int = 100, **env: str
) -> Server:
    server = Server(
        CLI,
        workdir,
        ["--workflows", str(workdir / "flows")],
        clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY=str(delay_ms),
            OTEL_SERVICE_NAME="executor-under-test",
            **env,
        ),
    )
    servers.append(server)
    return server.start(new_session=True).wait_running()


def flows(workdir: Path, *texts: str) -> None:
    folder = workdir / "flows"
    folder.mkdir(exist_ok=True)
    for text in texts:
        name = text.split("name: ", 1)[1].split()[0]
        (folder / f"{name}.yaml").write_text(text)


def finished(server: Server, run_id: str, timeout: float = 30) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        run: dict[str, Any] = server.get(f"/runs/{run_id}").json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(final, timeout, what=f"run {run_id} to end")


def spans_of(
    receiver: OtlpReceiver, trace_id: str, names: set[str], timeout: float = 15
) -> dict[str, ReceivedSpan]:
    def arrived() -> dict[str, ReceivedSpan] | None:
        found = {span.name: span for span in receiver.received() if span.trace_id == trace_id}
        return found if names <= found.keys() else None

    return wait_until(arrived, timeout, what=f"spans {sorted(names)} in trace {trace_id}")


def test_runs_and_attempts_are_spans_under_the_callers_traceparent(
    workdir: Path, servers: list[Server]
) -> None:
    flows(workdir, CALLS)
    with OtlpReceiver() as receiver, RecordingServer() as far_end:
        server = serve(servers, workdir, receiver)
        created = httpx.post(
            f"{server.url}/runs",
            json={"workflow": "traced", "input": {"url": far_end.url}},
            headers={"traceparent": TRACEPARENT},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        run = finished(server, created.json()["id"])
        assert run["status"] == "succeeded", run

        spans = spans_of(receiver, TRACE_ID, {"run traced", "call", "shell"})
        run_span, call, shell = spans["run traced"], spans["call"], spans["shell"]
        # The run's span: the caller's span is its parent; its id is derived from the run id.
        assert run_span.parent_span_id == PARENT_SPAN
        assert run_span.span_id == f"{run_trace(run['id'], TRACEPARENT).span_id:016x}"
        assert run_span.attributes["executor.run_id"] == run["id"]
        assert run_span.attributes["executor.trigger"] == "api"
        assert run_span.attributes["executor.status"] == "succeeded"
        assert run_span.resource["service.name"] == "executor-under-test"
        assert run_span.start <= call.start <= call.end <= shell.start <= shell.end <= run_span.end + 0.01
        # Each attempt is a child of the run's span.
        for attempt in (call, shell):
            assert attempt.parent_span_id == run_span.span_id
            assert attempt.attributes["executor.attempt"] == 1
            assert attempt.attributes["executor.outcome"] == "succeeded"
        assert (call.attributes["executor.action"], shell.attributes["executor.action"]) == ("http", "shell")

        # The http step sent its attempt's context on; the shell step saw it in TRACEPARENT.
        [request] = far_end.requests
        sent = parse_traceparent(request["headers"]["traceparent"])
        assert sent is not None
        assert (f"{sent.trace_id:032x}", f"{sent.span_id:016x}") == (TRACE_ID, call.span_id)
        echoed = server.get(f"/runs/{run['id']}").json()
        shell_output = next(step for step in echoed["steps"] if step["id"] == "shell")["output"][
            "stdout"
        ].strip()
        assert shell_output == f"00-{TRACE_ID}-{shell.span_id}-01"


def test_a_run_without_a_traceparent_is_a_trace_of_its_own(workdir: Path, servers: list[Server]) -> None:
    flows(workdir, CONTINUED.replace("|| sleep 60", "|| true"))
    with OtlpReceiver() as receiver:
        server = serve(servers, workdir, receiver)
        run_id = httpx.post(f"{server.url}/runs", json={"workflow": "continued"}, timeout=10).json()["id"]
        finished(server, run_id)
        trace_id = run_id.replace("-", "")  # the run's UUID
        spans = spans_of(receiver, trace_id, {"run continued", "first", "second"})
        assert spans["run continued"].parent_span_id == ""  # a root
        assert spans["first"].parent_span_id == spans["run continued"].span_id


def test_a_child_run_is_a_child_span_of_its_parent_run(workdir: Path, servers: list[Server]) -> None:
    flows(workdir)
    for name in ("child-workflow", "child-greet"):
        (workdir / "flows" / f"{name}.yaml").write_text((ROOT / "examples" / f"{name}.yaml").read_text())
    with OtlpReceiver() as receiver:
        server = serve(servers, workdir, receiver)
        created = httpx.post(
            f"{server.url}/runs",
            json={"workflow": "child-workflow"},
            headers={"traceparent": TRACEPARENT},
            timeout=10,
        )
        assert finished(server, created.json()["id"])["status"] == "succeeded"
        spans = spans_of(receiver, TRACE_ID, {"run child-workflow", "run child-greet", "greet"})
        parent, child = spans["run child-workflow"], spans["run child-greet"]
        assert child.parent_span_id == parent.span_id
        assert child.attributes["executor.trigger"] == "parent"
        assert parent.start <= child.start <= child.end <= parent.end


@pytest.mark.slow
def test_a_run_continued_after_kill_9_stays_in_its_trace(workdir: Path, servers: list[Server]) -> None:
    flows(workdir, CONTINUED)
    with OtlpReceiver() as receiver:
        first = serve(servers, workdir, receiver)
        created = httpx.post(
            f"{first.url}/runs",
            json={"workflow": "continued"},
            headers={"traceparent": TRACEPARENT},
            timeout=10,
        )
        run_id = created.json()["id"]
        # The first step's span is exported by the first instance; the second step runs there.
        spans_of(receiver, TRACE_ID, {"first"})
        wait_until(
            lambda: any(
                s["id"] == "second" and s["status"] == "running"
                for s in first.get(f"/runs/{run_id}").json()["steps"]
            ),
            15,
            what="the second step to run",
        )
        assert first.process is not None
        first.process.kill()  # kill -9: its second attempt's span is never sent
        first.process.wait(10)

        # Another instance on the same database takes the run over and ends it.
        second = serve(servers, workdir, receiver)
        run = finished(second, run_id)
        assert run["status"] == "succeeded", run
        spans = spans_of(receiver, TRACE_ID, {"run continued", "first", "second"})
        run_span = spans["run continued"]
        assert run_span.parent_span_id == PARENT_SPAN
        assert spans["first"].parent_span_id == run_span.span_id == spans["second"].parent_span_id
        assert (
            spans["first"].resource["service.instance.id"] != spans["second"].resource["service.instance.id"]
        )
        assert spans["second"].attributes["executor.attempt"] == 2
        # The run span covers the whole run, from its creation on the first instance.
        assert run_span.start <= spans["first"].start


def test_spans_still_queued_are_exported_when_sigterm_stops_the_service(
    workdir: Path, servers: list[Server]
) -> None:
    flows(workdir, CONTINUED.replace("|| sleep 60", "|| true"))
    with OtlpReceiver() as receiver:
        # Batches every 10 minutes: only the shutdown can send these spans in time.
        server = serve(servers, workdir, receiver, delay_ms=600_000)
        run_id = httpx.post(
            f"{server.url}/runs",
            json={"workflow": "continued"},
            headers={"traceparent": TRACEPARENT},
            timeout=10,
        ).json()["id"]
        finished(server, run_id)
        assert receiver.received() == []
        server.signal(signal.SIGTERM)
        assert server.wait_exit(30) == 0
        names = {span.name for span in receiver.received() if span.trace_id == TRACE_ID}
        assert names == {"run continued", "first", "second"}


PROBE = """
import json, sys
from executor.cli import main
try:
    main(["run", sys.argv[1]])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "otel": sorted(m for m in sys.modules if m.startswith("opentelemetry"))}), file=sys.stderr)
"""


@pytest.mark.parametrize("configured", [False, True])
def test_nothing_of_opentelemetry_is_imported_unless_an_endpoint_is_set(
    tmp_path: Path, configured: bool
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        textwrap.dedent("""
        name: probe
        steps:
          - id: hello
            action: shell
            with: {command: "echo hi"}
        """)
    )
    env = clean_env()
    for name in ENDPOINT_VARIABLES:
        env.pop(name, None)
    with OtlpReceiver() as receiver:
        if configured:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(flow)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    if configured:
        assert "opentelemetry.sdk.trace" in report["otel"], "the probe must see the import when there is one"
        assert {span.name for span in receiver.received()} == {"run probe", "hello"}
    else:
        assert report["otel"] == [], report["otel"]
        assert receiver.received() == []
