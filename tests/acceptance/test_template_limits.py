"""Templates cannot starve the service (issue #11, item 2): a runaway template, wherever it
is (``with``, ``when``, ``for_each``, a step's ``outputs``, the workflow's ``outputs``),
fails its step or run at its time limit with a message naming it, while ``/health``
answers and other runs go on; in ``executor serve`` and in ``executor run``."""

from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

# Each test waits out at least one render time limit, with a service started for it.
pytestmark = pytest.mark.slow

RUNAWAY = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
EXCEEDED = f"{RUNAWAY}: template rendering exceeded 1s"
HUGE = "{{ 'x' * 10**9 }}"

FLOWS = {
    "in_with": f"""
name: in_with
steps:
  - {{id: spin, action: noop, with: {{output: "{RUNAWAY}"}}}}
""",
    "in_when": f"""
name: in_when
steps:
  - {{id: first, action: noop}}
  - {{id: spin, action: noop, needs: [first], when: "{RUNAWAY}"}}
""",
    "in_for_each": f"""
name: in_for_each
steps:
  - {{id: spin, action: noop, for_each: "{RUNAWAY}"}}
""",
    "in_outputs": f"""
name: in_outputs
steps:
  - {{id: spin, action: noop, with: {{output: 1}}, outputs: {{n: "{RUNAWAY}"}}}}
""",
    "in_workflow_outputs": f"""
name: in_workflow_outputs
steps:
  - {{id: one, action: noop, with: {{output: 1}}}}
outputs: {{total: "{RUNAWAY}"}}
""",
    "huge": f"""
name: huge
steps:
  - {{id: spin, action: noop, with: {{output: "{HUGE}"}}}}
""",
    "ordinary": """
name: ordinary
steps:
  - {id: a, action: noop, with: {output: "{{ range(3) | join('') }}"}}
  - {id: b, action: noop, needs: [a], with: {output: "{{ steps.a.output }}!"}}
""",
}
# The run's error: which step failed, in which field (or the workflow's outputs), and why.
ERRORS = {
    "in_with": f"step spin failed: with.output: {EXCEEDED}",
    "in_when": f"step spin failed: when: {EXCEEDED}",
    "in_for_each": f"step spin failed: for_each: {EXCEEDED}",
    "in_outputs": f"step spin failed: outputs.n: {EXCEEDED}",
    "in_workflow_outputs": f"outputs.total: {EXCEEDED}",
    "huge": f"step spin failed: with.output: {HUGE}: * would build 1,000,000,000 characters; at most 8,388,608",
}


class HealthProbe:
    """GET /health over and over from a thread; keeps the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe)

    def _probe(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                assert http.get("/health").status_code == 200
                self.worst = max(self.worst, time.perf_counter() - started)
                self.answers += 1
                self._stop.wait(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def start(executor: list[str], workdir: Path, servers: list[Server], *args: str) -> Server:
    server = Server(executor, workdir, ["--poll-interval", "100ms", *args], clean_env())
    servers.append(server)
    return server.start(new_session=True).wait_running()


def register(http: httpx.Client, flow: str) -> None:
    registered = http.post("/workflows", content=FLOWS[flow], headers={"content-type": "application/yaml"})
    assert registered.status_code in (200, 201), registered.text


def submit(url: str, flow: str) -> str:
    answer = httpx.post(f"{url}/runs", json={"workflow": flow}, timeout=30)
    assert answer.status_code == 201, answer.text
    run_id: str = answer.json()["id"]
    return run_id


def final(http: httpx.Client, run_id: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = http.get(f"/runs/{run_id}").json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(done, timeout, interval=0.05, what=f"run {run_id} to end")


def render_workers(server: Server) -> list[int]:
    """Pids of the render workers (``executor __render``) under ``server``'s process."""
    assert server.process is not None
    parents: dict[int, int] = {}
    workers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if b"__render" in (entry / "cmdline").read_bytes().split(b"\0"):
                    workers.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue

    def under_server(pid: int) -> bool:
        while pid > 1:
            if pid == server.process.pid:  # type: ignore[union-attr]
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid in workers if under_server(pid)]


def test_runaway_templates_fail_at_their_limit_while_the_service_goes_on(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = start(executor, workdir, servers, "--render-timeout", "1s")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for flow in FLOWS:
            register(http, flow)
        with HealthProbe(server.url) as health, ThreadPoolExecutor(len(ERRORS)) as threads:
            started = time.monotonic()
            # At once: a run whose first step renders a runaway `when` or `for_each` is
            # answered once that render ended (it is decided in the run's first change).
            submitted = {flow: threads.submit(submit, server.url, flow) for flow in ERRORS}
            spinning = submitted["in_with"].result()

            def rendering() -> bool:
                steps = http.get(f"/runs/{spinning}").json()["steps"]
                return any(step["id"] == "spin" and step["status"] == "running" for step in steps)

            wait_until(rendering, 10, what="the runaway `with` to render")
            ordinary = submit(server.url, "ordinary")  # while the runaways render
            done = final(http, ordinary)
            ended = {flow: final(http, future.result()) for flow, future in submitted.items()}
            took = time.monotonic() - started
    assert done["status"] == "succeeded", done
    assert {step["id"]: step["output"] for step in done["steps"]} == {"a": "012", "b": "012!"}
    for flow, failed in ended.items():
        assert failed["status"] == "failed", (flow, failed)
        assert failed["error"] == ERRORS[flow], flow
    # Other runs kept moving: the ordinary run ended while the runaway `with` rendered.
    assert done["finished_at"] < ended["in_with"]["finished_at"]
    # Five runaway renders of 1 s on two workers, plus the service's own pace.
    assert took < 20
    print(
        f"\n/health: {health.answers} answers during the runaway renders, slowest {health.worst * 1000:.0f} ms"
    )
    assert health.answers > 20
    assert health.worst < 1.0


def test_a_stop_and_a_kill_end_the_render_workers(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    for stop in (signal.SIGTERM, signal.SIGKILL):
        server = start(executor, workdir, servers, "--render-timeout", "1h", "--stop-timeout", "1s")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            register(http, "in_with")
        submit(server.url, "in_with")
        workers = wait_until(lambda: render_workers(server), what="a render worker")  # noqa: B023
        stopped = time.monotonic()
        assert server.process is not None
        server.process.send_signal(stop)  # the service alone, not its process group
        code = server.wait_exit(15)
        assert code == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
        assert time.monotonic() - stopped < 10
        wait_until(lambda: not any(pid_alive(pid) for pid in workers), 5, what="the workers to end")  # noqa: B023


def test_executor_run_fails_a_runaway_when_in_time(executor: list[str], workdir: Path) -> None:
    flow = workdir / "flow.yaml"
    flow.write_text(FLOWS["in_when"])
    started = time.monotonic()
    result = run(executor, "run", str(flow), "--render-timeout", "1s", cwd=workdir, timeout=60)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {"status": "failed", "error": ERRORS["in_when"]}
    assert "✗ spin" in result.stderr and "when:" in result.stderr
    assert time.monotonic() - started < 30
