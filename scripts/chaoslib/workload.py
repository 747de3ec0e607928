"""The load: the workflow ``chaos`` (shell ``prepare`` -> shell ``work`` -> noop ``finish``),
the command its shell steps run (side-effect lines, a pause, its identity on stdout), and
the submitter that POSTs runs at a steady rate to whichever instances are alive."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx

from scripts.chaoslib.errors import ChaosError
from scripts.chaoslib.fleet import Fleet
from scripts.chaoslib.settings import EFFECTS_VARIABLE, INSTANCE_VARIABLE, SUBMIT_PATIENCE

# Two lines per attempt, start and done, each appended in one write (O_APPEND: whole lines,
# whatever else writes); stdout names the attempt, and becomes the step's recorded output.
EFFECT = f"""#!/bin/sh
line() {{
    echo "$(date +%s.%N) $1 $EXECUTOR_RUN_ID $EXECUTOR_STEP_ID $EXECUTOR_ATTEMPT $$ ${INSTANCE_VARIABLE}" >> "${EFFECTS_VARIABLE}"
}}
line start
sleep "$1"
line done
echo "${INSTANCE_VARIABLE} $$ $EXECUTOR_ATTEMPT"
"""

# Retries, lease and everything else at their defaults: what a user gets.
FLOW = """\
name: chaos
inputs:
  type: object
  properties:
    n: {{type: integer}}
    prepare: {{type: number}}
    work: {{type: number}}
steps:
  - id: prepare
    action: shell
    with: {{command: ["/bin/sh", "{effect}", "{{{{ inputs.prepare }}}}"]}}
    outputs: {{attempt: "{{{{ result.stdout | trim }}}}"}}
  - id: work
    action: shell
    needs: [prepare]
    with: {{command: ["/bin/sh", "{effect}", "{{{{ inputs.work }}}}"]}}
    outputs: {{attempt: "{{{{ result.stdout | trim }}}}"}}
  - id: finish
    action: noop
    needs: [work]
    with:
      output:
        prepare: "{{{{ steps.prepare.output.attempt }}}}"
        work: "{{{{ steps.work.output.attempt }}}}"
"""


def workflow(workdir: Path) -> str:
    """The workflow's YAML, its command written next to it."""
    effect = workdir / "effect.sh"
    effect.write_text(EFFECT)
    return FLOW.format(effect=effect)


async def register(url: str, flow: str) -> None:
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        response = await client.post(
            f"{url}/workflows", content=flow, headers={"content-type": "application/yaml"}
        )
    if response.status_code not in (200, 201):
        raise ChaosError(f"registering the workflow: {response.status_code} {response.text}")


class Submitter:
    """POSTs runs at ``rate`` a second until ``stop`` is set; each with an idempotency key,
    retried on another live instance (for up to SUBMIT_PATIENCE s) when one refuses or dies."""

    def __init__(self, fleet: Fleet, rate: float, max_pause: float, rng: random.Random) -> None:
        self.fleet = fleet
        self.rate = rate
        self.max_pause = max_pause
        self.rng = rng
        self.submitted = 0
        self.accepted: dict[int, str] = {}
        self.refused: dict[int, str] = {}
        self.retries = 0

    async def run(self, stop: asyncio.Event) -> None:
        began = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            while not stop.is_set():
                n = self.submitted
                self.submitted += 1
                task = asyncio.create_task(self._one(client, n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at = began + self.submitted / self.rate
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
                except TimeoutError:
                    pass
            if pending:
                await asyncio.gather(*pending)

    async def _one(self, client: httpx.AsyncClient, n: int) -> None:
        body = {
            "workflow": "chaos",
            "input": {
                "n": n,
                "prepare": round(self.rng.uniform(0, self.max_pause / 4), 2),
                "work": round(self.rng.uniform(0, self.max_pause), 2),
            },
            "idempotency_key": f"chaos-{n}",
        }
        deadline = time.monotonic() + SUBMIT_PATIENCE
        last = "no instance was alive"
        while time.monotonic() < deadline:
            urls = self.fleet.live_urls()
            if urls:
                try:
                    response = await client.post(f"{self.rng.choice(urls)}/runs", json=body)
                except httpx.TransportError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code in (200, 201):
                        self.accepted[n] = str(response.json()["id"])
                        return
                    if response.status_code < 500:
                        raise ChaosError(f"POST /runs answered {response.status_code}: {response.text}")
                    last = f"{response.status_code} {response.text[:200]}"
            self.retries += 1
            await asyncio.sleep(0.2)
        self.refused[n] = last
