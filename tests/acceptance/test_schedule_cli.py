"""`executor validate` shows when a workflow's schedules fire, in their own zones, from the
CLI and from the binary, also on a host without a zone database (the binary bundles tzdata)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support.process import clean_env, run

FLOW = """\
name: nightly
schedules:
  - id: nightly
    cron: "30 2 * * *"
    timezone: Europe/Berlin
  - id: often
    every: 10m
steps:
  - id: a
    action: noop
"""


def fire_times(output: str, schedule: str) -> list[datetime]:
    block = output.split(f"schedule {schedule}:", 1)[1]
    return [datetime.fromisoformat(text) for text in re.findall(r"\((\d{4}-[^)]+)\)", block)][:5]


def test_validate_prints_the_next_fire_times_in_the_schedules_zone(
    executor: list[str], workdir: Path
) -> None:
    (workdir / "flow.yaml").write_text(FLOW)
    # No zone database on this "host": only the bundled tzdata can answer.
    env = {**clean_env(), "PYTHONTZPATH": ""}
    result = run(executor, "validate", "flow.yaml", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert "schedule nightly: 30 2 * * * (Europe/Berlin), overlap skip; next:" in result.stdout
    nightly = fire_times(result.stdout, "nightly")
    assert len(nightly) == 5
    berlin = ZoneInfo("Europe/Berlin")
    for moment in nightly:
        local = moment.astimezone(berlin)
        assert (local.hour, local.minute) in ((2, 30), (3, 0))  # 03:00 on the spring night
        assert moment.utcoffset() == local.utcoffset()  # printed with Berlin's offset
    assert all(b > a for a, b in itertools.pairwise(nightly))
    often = fire_times(result.stdout, "often")
    assert [b - a for a, b in itertools.pairwise(often)] == [often[1] - often[0]] * 4
    assert (often[1] - often[0]).total_seconds() == 600
    assert all(moment.minute % 10 == 0 and moment.second == 0 for moment in often)


def test_an_unknown_time_zone_is_a_validation_error_with_its_line(executor: list[str], workdir: Path) -> None:
    (workdir / "flow.yaml").write_text(FLOW.replace("Europe/Berlin", "Europe/Atlantis"))
    result = run(executor, "validate", "flow.yaml", cwd=workdir)
    assert result.returncode == 1
    assert "flow.yaml:5: schedules[0].timezone: 'Europe/Atlantis' is not an IANA time zone" in result.stderr
