"""The dashboard's screenshots for docs/ui.md, taken from a real service on a fresh SQLite
database with real runs of the examples: a finished release, one waiting for its approval, a
failure, retries, a fan-out, a polling loop, a matrix build, a deploy waiting for its
concurrency key, a build that leaves artifacts and the scheduled nightly report.
Each page is shot at laptop width (1280 px) and the main ones at phone width (390 px)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.browser import browser_unavailable, chromium
from tests.support.process import CLI, ROOT, Server, clean_env
from tests.support.waiting import wait_until

EXAMPLES = ROOT / "examples"
# A failure to show: a backup whose disk is full.
BACKUP = """
name: backup
description: Copy the database to the backup volume
steps:
  - id: snapshot
    action: shell
    with: {command: 'echo "snapshot taken: 4.2 GiB"'}
  - id: upload
    action: shell
    needs: [snapshot]
    retry: {max_attempts: 2, delay: 200ms}
    with: {command: 'echo "copying to /backup" >&2; echo "No space left on device" >&2; exit 28'}
"""
# Two deploys of one environment: the second waits in line for the concurrency key.
DEPLOY = """
name: deploy
description: One deploy per environment at a time
inputs: {type: object, properties: {env: {type: string, default: prod}}}
concurrency: {key: "deploy-{{ inputs.env }}", policy: queue}
steps:
  - {id: ship, action: wait, with: {signal: shipped}}
  - {id: verify, action: noop, needs: [ship]}
"""
PUSHED = [
    "release",
    "polling-loop",
    "matrix-build",
    "retry-backoff",
    "fan-out",
    "nightly-report",
    "approval",
    "child-greet",
    "child-workflow",
    "build-artifacts",
]


def _push(client: httpx.Client, name: str) -> None:
    response = client.post(
        "/workflows",
        content=(EXAMPLES / f"{name}.yaml").read_bytes(),
        headers={"Content-Type": "application/yaml"},
    )
    response.raise_for_status()


def _start(client: httpx.Client, workflow: str, run_input: dict[str, Any] | None = None) -> str:
    response = client.post("/runs", json={"workflow": workflow, "input": run_input or {}})
    response.raise_for_status()
    run_id: str = response.json()["id"]
    return run_id


def _status(client: httpx.Client, run_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/runs/{run_id}").json()
    return answer


def _step(run: dict[str, Any], step: str) -> str:
    return str(next(s["status"] for s in run["steps"] if s["id"] == step))


def _scene(client: httpx.Client) -> dict[str, str]:
    """Runs of every kind; the ids of the ones the shots show."""
    for name in PUSHED:
        _push(client, name)
    shipped = _start(client, "release", {"version": "1.4.1", "environment": "production"})
    wait_until(lambda: _step(_status(client, shipped), "approve") == "waiting", 60, what="the first approval")
    client.post(f"/runs/{shipped}/signals/approve", json={"payload": {"approved": True}}).raise_for_status()
    _start(client, "retry-backoff")
    _start(client, "fan-out", {"count": 6})
    _start(client, "child-workflow", {"who": "Ada"})
    _start(client, "approval")
    client.post(
        "/workflows", content=BACKUP.encode(), headers={"Content-Type": "application/yaml"}
    ).raise_for_status()
    failed = _start(client, "backup")
    looped = _start(client, "polling-loop", {"ready_after": 3})
    matrix = _start(client, "matrix-build")
    client.post(
        "/workflows", content=DEPLOY.encode(), headers={"Content-Type": "application/yaml"}
    ).raise_for_status()
    _start(client, "deploy")
    queued = _start(client, "deploy")
    wait_until(lambda: _status(client, queued).get("waiting_for") is not None, 60, what="a deploy in line")
    packaged = _start(client, "build-artifacts", {"version": "1.4.2"})
    waiting = _start(client, "release", {"version": "1.4.2"})
    wait_until(lambda: _step(_status(client, waiting), "approve") == "waiting", 60, what="the approval")
    wait_until(lambda: _status(client, shipped)["status"] == "succeeded", 60, what="the shipped release")
    wait_until(lambda: _status(client, failed)["status"] in ("failed", "succeeded"), 60, what="the failure")
    wait_until(lambda: _status(client, looped)["status"] == "succeeded", 60, what="the polling loop")
    wait_until(lambda: _status(client, matrix)["status"] == "succeeded", 60, what="the matrix build")
    wait_until(lambda: _status(client, packaged)["status"] == "succeeded", 60, what="the artifacts")
    return {
        "shipped": shipped,
        "waiting": waiting,
        "looped": looped,
        "matrix": matrix,
        "queued": queued,
        "packaged": packaged,
    }


def main(argv: list[str]) -> int:
    reason = browser_unavailable()
    if reason:
        print(f"scripts/screenshots: {reason}", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else ROOT / "docs" / "ui"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="executor-shots-") as tmp:
        server = Server(CLI, Path(tmp), ["--database", f"sqlite:///{tmp}/shots.db"], clean_env())
        server.start().wait_running()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                ids = _scene(client)
            pages = {
                "runs": "/ui/runs",
                "run": f"/ui/runs/{ids['waiting']}",
                "run-finished": f"/ui/runs/{ids['shipped']}",
                "step": f"/ui/runs/{ids['shipped']}/steps/build",
                "step-loop": f"/ui/runs/{ids['looped']}/steps/status",
                "run-matrix": f"/ui/runs/{ids['matrix']}",
                "run-queued": f"/ui/runs/{ids['queued']}",
                "run-artifacts": f"/ui/runs/{ids['packaged']}",
                "workflows": "/ui/workflows",
                "workflow": "/ui/workflows/release",
                "schedules": "/ui/schedules",
                "instances": "/ui/instances",
            }
            phone = ["runs", "run", "workflow"]
            for width, height, names, suffix in ((1280, 900, list(pages), ""), (390, 844, phone, "-phone")):
                with chromium(width, height) as driver:
                    for name in names:
                        driver.get(server.url + pages[name])
                        # The graph is drawn after load; give scripts their first frame.
                        wait_until(
                            lambda d=driver: d.execute_script("return document.readyState") == "complete",
                            10,
                            what="the page to load",
                        )
                        time.sleep(0.5)  # a screenshot, not a test: let the live parts settle once
                        full = driver.execute_script("return document.documentElement.scrollHeight")
                        driver.set_window_size(width, min(max(height, full), 2400))
                        path = out / f"{name}{suffix}.png"
                        driver.save_screenshot(str(path))
                        driver.set_window_size(width, height)
                        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
