"""The language of artifacts: a shell step's `artifacts:` paths and `with.artifacts_from`,
what loads and what is refused (with path and line)."""

from __future__ import annotations

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import Problem, parse_workflow

HEAD = "name: demo\nsteps:\n  - {id: build, action: shell, with: {command: make}}\n  - {id: other, action: noop}\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return caught.value.problems


def test_artifacts_and_artifacts_from_load_and_keep_the_digest_of_workflows_without_them() -> None:
    workflow = parse_workflow(
        HEAD
        + "  - id: pack\n    action: shell\n    needs: [build]\n    artifacts: dist/*.whl\n"
        + "    with: {command: ls, artifacts_from: [build]}\n"
    )
    assert workflow.step("pack").artifacts == ("dist/*.whl",)
    assert workflow.step("pack").to_json()["artifacts"] == ["dist/*.whl"]
    assert "artifacts" not in workflow.step("build").to_json()


CASES = [
    ("not-shell", "  - {id: s, action: noop, artifacts: [a]}\n", "steps[2].artifacts", 5, "only a step whose action"),
    ("absolute", "  - {id: s, action: shell, artifacts: [/etc/passwd], with: {command: x}}\n", "steps[2].artifacts[0]", 5, "without '..'"),
    ("dotdot", "  - id: s\n    action: shell\n    with: {command: x}\n    artifacts:\n      - ok.txt\n      - ../up.txt\n", "steps[2].artifacts[1]", 10, "without '..'"),
    ("empty", "  - {id: s, action: shell, artifacts: [], with: {command: x}}\n", "steps[2].artifacts", 5, "a list of 1 to"),
    ("not-string", "  - {id: s, action: shell, artifacts: [3], with: {command: x}}\n", "steps[2].artifacts[0]", 5, "must be a string"),
    ("from-not-needed", "  - {id: s, action: shell, with: {command: x, artifacts_from: [build]}}\n", "steps[2].with.artifacts_from[0]", 5, "not a dependency of s; add it to needs"),
    ("from-unknown", "  - {id: s, action: shell, needs: [build], with: {command: x, artifacts_from: [nope]}}\n", "steps[2].with.artifacts_from[0]", 5, "'nope' is not a step"),
    ("from-itself", "  - {id: s, action: shell, with: {command: x, artifacts_from: [s]}}\n", "steps[2].with.artifacts_from[0]", 5, "its own artifacts"),
    ("from-not-list", "  - {id: s, action: shell, needs: [build], with: {command: x, artifacts_from: 3}}\n", "steps[2].with.artifacts_from", 5, ""),
    ("from-template", "  - {id: s, action: shell, needs: [build], with: {command: x, artifacts_from: \"{{ 'build' }}\"}}\n", "steps[2].with.artifacts_from", 5, "a literal list of step ids, not a template"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "path", "line", "message"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_artifacts_key_is_refused_with_its_path_and_line(
    text: str, path: str, line: int, message: str
) -> None:
    [problem] = [p for p in problems_of(HEAD + text) if p.path.startswith(path)]
    assert (problem.path, problem.line) == (path, line)
    assert message in problem.message
