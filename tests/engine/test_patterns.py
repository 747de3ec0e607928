"""Control-flow patterns (docs/patterns.md) that come from combining constructs rather than
from one construct with its own tests."""

from __future__ import annotations

from pathlib import Path

from tests.support.engine import Harness


async def test_interleaved_routing_runs_each_step_once_one_at_a_time(
    harness: Harness, tmp_path: Path
) -> None:
    """Patterns 17 and 40: steps with no order between them and a mutex keyed on the run run
    in any order, never two at once."""
    trace = tmp_path / "trace"
    steps = "\n".join(
        f"""  - id: {name}
    action: shell
    mutex: "order-{{{{ run.id }}}}"
    with:
      command: 'echo "start {name}" >> {trace}; sleep 0.1; echo "end {name}" >> {trace}'"""
        for name in ("a", "b", "c")
    )
    run_id = await harness.submit(f"name: interleaved\nsteps:\n{steps}\n")
    run, rows = await harness.wait(run_id)
    assert run.status == "succeeded", [(r.step_id, r.status, r.error) for r in rows.values()]
    lines = trace.read_text().split("\n")[:-1]
    assert len(lines) == 6
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ") and end == "end " + start.removeprefix("start "), lines
    assert sorted(line.removeprefix("start ") for line in lines[::2]) == ["a", "b", "c"]
