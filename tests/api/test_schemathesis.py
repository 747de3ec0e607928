"""Schemathesis against a live service: every operation of its /openapi.json with every check
(no server error; status codes, content types, headers and bodies as documented; schema-
violating requests refused, schema-valid ones accepted; the token required where the
document says so; ``Allow`` as documented), once on an instance without a token and once on
one with a token, each on a database holding a workflow and runs in several states.

Bounded for the suite (``--max-examples`` per operation and phase, a fixed seed). A longer
run by hand: ``EXECUTOR_TEST_SCHEMATHESIS_EXAMPLES=1000 EXECUTOR_TEST_SCHEMATHESIS_SEED=7
.venv/bin/pytest tests/api/test_schemathesis.py -s``; ``-s`` shows the counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import CLI, Server, clean_env
from tests.support.waiting import wait_until

EXAMPLES = int(os.environ.get("EXECUTOR_TEST_SCHEMATHESIS_EXAMPLES", "30"))
SEED = int(os.environ.get("EXECUTOR_TEST_SCHEMATHESIS_SEED", "1"))
TOKEN = "schemathesis-token"

FLOW = """
name: plain
inputs: {type: object, properties: {n: {type: integer, default: 1}}}
steps:
  - {id: say, action: shell, with: {command: "echo hello | tee $EXECUTOR_ARTIFACTS_DIR/hello.txt; test {{ inputs.n }} -lt 5"}}
  - {id: w, action: wait, needs: [say], with: {signal: go}}
"""

# The document states a request's syntax; it cannot state that a workflow obeys the language
# (steps that exist, no cycles, known actions), that a run's input obeys its workflow's own
# input schema, that a cursor is one this API gave, or that a step cancel's item is one of
# that step's for_each items. So these operations may rightly answer a schema-valid request
# with 422: schemathesis's default expectations plus 422. Every other operation keeps the
# defaults.
_ACCEPTED = '["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]'
OPERATIONS = "".join(
    f'\n[[operations]]\ninclude-name = "{name}"\n'
    f"checks.positive_data_acceptance.expected-statuses = {_ACCEPTED}\n"
    for name in ("POST /workflows", "POST /runs", "GET /runs", "POST /runs/{id}/steps/{step}/cancel")
)


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _config(runs: list[str]) -> str:
    """Half the generated identifiers are real ones, so that requests reach runs, steps,
    workflows and artifacts that exist (the rest are drawn from the schema)."""
    dictionaries = {"runs": runs, "names": ["plain", "go", "hello.txt"], "steps": ["say", "w"]}
    bindings = {
        "path.id": "runs",
        "path.name": "names",
        "path.step": "steps",
        "query.workflow": "names",
        "query.parent": "runs",
        "body.workflow": "names",
    }
    lines = [f"[dictionaries.{name}]\nvalues = {_toml_list(values)}" for name, values in dictionaries.items()]
    lines.append("[parameters]")
    lines += [f'"{key}" = {{dictionary = "{name}", probability = 0.5}}' for key, name in bindings.items()]
    return "\n".join(lines) + "\n" + OPERATIONS


def _seed(client: httpx.Client) -> list[str]:
    """A workflow and runs in several states (waiting, paused, cancelled, failed); their ids."""
    answer = client.post("/workflows", content=FLOW, headers={"content-type": "application/yaml"})
    assert answer.status_code == 201, answer.text
    inputs = [{"n": 1}, {"n": 1}, {"n": 1}, {"n": 9}]
    runs = [client.post("/runs", json={"workflow": "plain", "input": i}).json()["id"] for i in inputs]

    def status(run: str) -> str:
        return str(client.get(f"/runs/{run}").json()["status"])

    wait_until(lambda: [status(run) for run in runs] == ["running"] * 3 + ["failed"], what="the runs")
    assert client.post(f"/runs/{runs[1]}/pause").status_code == 202
    assert client.post(f"/runs/{runs[2]}/cancel").status_code == 202
    return runs


def _schemathesis(
    url: str, config: Path, report: Path, token: str | None
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: threads parsing source at once hit a CPython 3.11 bug (gh-106905,
        # "AST constructor recursion depth mismatch") inside Hypothesis.
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    return subprocess.run(command, cwd=config.parent, capture_output=True, text=True, timeout=90 + EXAMPLES)


@pytest.mark.slow
@pytest.mark.timeout(120 + EXAMPLES)  # about 10 s at 30 examples; 4 minutes at 1,000
@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    database_url: str, tmp_path: Path, token: str | None
) -> None:
    env = clean_env(EXECUTOR_API_TOKEN=token) if token else clean_env()
    server = Server(CLI, tmp_path, ["--database", database_url, "--poll-interval", "100ms"], env)
    try:
        server.start().wait_running()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            runs = _seed(client)
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(runs))
        report_path = tmp_path / "report.json"
        result = _schemathesis(server.url, config, report_path, token)
        report: dict[str, Any] = json.loads(report_path.read_text())
        cases, failures = report["test_cases"], report["failures"]
        print(
            f"\nschemathesis ({'token' if token else 'no token'}, seed {SEED}, {EXAMPLES} examples): "
            f"{cases['generated']} cases, {cases['with_failures']} failing, {len(failures)} kinds of failure, "
            f"{cases['errored']} errored, {report['running_time']:.0f} s"
        )
        assert report["operations"]["tested"] == report["operations"]["total"] > 0
        assert failures == [] and report["errors"] == [], result.stdout[-20_000:]
        assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    finally:
        server.signal()
        assert server.wait_exit(30) == 0
        server.stop()
