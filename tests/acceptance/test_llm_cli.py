"""`llm` from the command line: a served instance configured with `--llm-base-url` and
`--llm-prices`, `executor runs get` showing what a run spent, and a price file that is not
right stopping the start with one line that names the file, the model and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.support.fake_llm import FakeLlm, completion
from tests.support.process import CLI, Server, clean_env, run
from tests.support.waiting import wait_until

FLOW = """
name: spender
steps:
  - id: ask
    action: llm
    with: {model: cli-model, prompt: hello}
  - id: again
    action: llm
    needs: ask
    with: {model: cli-model, prompt: again}
"""


def test_runs_get_shows_what_the_run_spent(database_url: str, tmp_path: Path, servers: list[Server]) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"cli-model": {"input": 1.5, "output": 6, "cached_input": 0.5}}))
    reply = completion("hi", model="cli-model", input_tokens=1000, output_tokens=100, cached_tokens=400)
    with FakeLlm(default=reply) as fake:
        args = ["--database", database_url, "--poll-interval", "100ms"]
        server = Server(CLI, tmp_path, args=[*args, "--llm-base-url", fake.url, "--llm-prices", str(prices)])
        servers.append(server)
        server.start().wait_running()
        headers = {"Content-Type": "application/yaml"}
        assert httpx.post(server.url + "/workflows", content=FLOW, headers=headers).status_code == 201
        run_id = httpx.post(server.url + "/runs", json={"workflow": "spender"}).json()["id"]
        wait_until(lambda: server.get(f"/runs/{run_id}").json()["status"] == "succeeded", 30)
        assert len(fake.requests) == 2
    env = clean_env(EXECUTOR_SERVER=server.url, HOME=str(tmp_path), COLUMNS="200")
    shown = run(CLI, "runs", "get", run_id, cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    # Per call: 600 input at $1.5/M, 400 cached at $0.5/M, 100 output at $6/M = $0.0017.
    assert re.search(
        r"^llm\s+2 calls, 2000 in \(800 cached\) / 200 out tokens, \$0\.0034$", shown.stdout, re.M
    )
    document = json.loads(run(CLI, "runs", "get", run_id, "-o", "json", cwd=tmp_path, env=env).stdout)
    assert document["llm"]["cost_usd"] == 0.0034 and document["llm"]["calls"] == 2


def test_a_price_file_that_is_not_right_stops_the_start(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4o: {input: 2.5, output: ten}\n")
    for command in (["serve"], ["run", "flow.yaml"]):
        result = run(CLI, *command, "--llm-prices", str(prices), cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == (
            "executor: error: invalid --llm-prices (EXECUTOR_LLM_PRICES): "
            f"{prices}: gpt-4o.output: 'ten' is not a price (USD per million tokens, 0 or more)\n"
        )
    missing = run(CLI, "serve", cwd=tmp_path, env=clean_env(EXECUTOR_LLM_PRICES=str(tmp_path / "none.yaml")))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "none.yaml" in missing.stderr
