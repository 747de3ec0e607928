"""POST /workflows registers a risky workflow all the same and lists its warnings (each with
path, message, and line for YAML); the OpenAPI document describes them (the client checks)."""

from __future__ import annotations

from tests.api.conftest import Running

YAML = {"content-type": "application/yaml"}
RISKY = """\
name: risky
steps:
  - id: deploy
    action: shell
    with:
      command: "deploy --host {{ inputs.host }}"
"""


async def test_a_risky_yaml_workflow_is_registered_with_its_warnings(api: Running) -> None:
    response = await api.client.post("/workflows", content=RISKY, headers=YAML)
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["version"]) == ("risky", 1)
    [warning] = body["warnings"]
    assert (warning["path"], warning["line"]) == ("steps[0].with.command", 6)
    assert warning["message"].startswith("inputs.host is pasted into a shell script")
    again = await api.client.post("/workflows", content=RISKY, headers=YAML)
    assert again.status_code == 200 and again.json()["warnings"] == body["warnings"]


async def test_a_json_definition_gets_warnings_without_lines(api: Running) -> None:
    definition = {
        "name": "risky-json",
        "steps": [{"id": "s", "action": "shell", "with": {"command": "echo {{ inputs.x }}"}}],
    }
    response = await api.client.post("/workflows", json=definition)
    assert response.status_code == 201
    assert [(w["path"], w["line"]) for w in response.json()["warnings"]] == [("steps[0].with.command", None)]


async def test_the_safe_forms_get_no_warnings(api: Running) -> None:
    safe = RISKY.replace('"deploy --host {{ inputs.host }}"', '[deploy, --host, "{{ inputs.host }}"]')
    response = await api.client.post("/workflows", content=safe, headers=YAML)
    assert response.status_code == 201 and response.json()["warnings"] == []
