"""``--pass-env`` / ``EXECUTOR_PASS_ENV``: the operator names the ``EXECUTOR_*`` variables of
the service's environment that shell commands see; no other reaches them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.process import clean_env, run

FLOW = """\
name: env
steps:
  - id: s
    action: shell
    with: {command: 'echo "${EXECUTOR_REGION:-unset} ${EXECUTOR_LOG_LEVEL:-unset}"'}
    outputs: {seen: "{{ result.stdout | trim }}"}
outputs:
  seen: "{{ steps.s.output.seen }}"
"""


def test_the_named_variables_reach_commands_by_flag_or_variable(executor: list[str], workdir: Path) -> None:
    flow = workdir / "flow.yaml"
    flow.write_text(FLOW)
    env = clean_env(EXECUTOR_REGION="eu-west", EXECUTOR_LOG_LEVEL="error")
    by_flag = run(executor, "run", str(flow), "--pass-env", "EXECUTOR_REGION", cwd=workdir, env=env)
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout) == {"seen": "eu-west unset"}
    env["EXECUTOR_PASS_ENV"] = "EXECUTOR_REGION, EXECUTOR_LOG_LEVEL"
    by_variable = run(executor, "run", str(flow), cwd=workdir, env=env)
    assert by_variable.returncode == 0, by_variable.stderr
    assert json.loads(by_variable.stdout) == {"seen": "eu-west error"}


def test_a_name_outside_executors_own_is_refused(executor: list[str], workdir: Path) -> None:
    refused = run(executor, "serve", "--pass-env", "EXECUTOR_REGION,PATH", cwd=workdir)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "executor: error: invalid --pass-env (EXECUTOR_PASS_ENV): 'PATH' is not the name of an "
        "EXECUTOR_* variable"
    )
