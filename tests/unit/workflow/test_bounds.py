"""Which templates render in the service's process (bounded) and which go to a worker."""

from __future__ import annotations

import time
from typing import Any

import pytest

from executor.errors import ExpressionError
from executor.workflow import build_context, render
from executor.workflow.bounds import is_bounded

RUNAWAY = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    "template",
    [
        "{{ inputs.service }}",
        "v{{ steps.build.output.version }}-{{ run.id }}",
        "{{ inputs.hosts[0] }}{{ inputs['hosts'][1:] }}",
        "{{ steps.check.output.ok and not inputs.skip or index > 2 }}",
        "{{ inputs.replicas * 2 + 1 }}",
        "{{ 'x' * 10**9 }}",  # bounded: the sandbox checks the size before computing it
        "{{ 'yes' if inputs.flag else 'no' }}",
        "{% if inputs.a %}a{% elif inputs.b %}b{% else %}c{% endif %}",
        "{% set name = inputs.service | upper %}{{ name }}",
        "{{ range(inputs.replicas) }}",
        "{{ dict(a=1) }}",
        "{{ inputs.hosts | join(',') }}",
        "{{ inputs.hosts | map('upper') | list }}",
        "{{ inputs.items | map(attribute='name') | join(', ') }}",
        "{{ inputs.items | selectattr('name', 'equalto', inputs.service) | list }}",
        "{{ inputs.items | select('odd') | list }}",
        "{{ inputs.missing | default('a fallback longer than a short literal, which is fine') }}",
        "{{ result.stdout | trim }}",
        "{{ result.json | tojson }}",
        "{{ inputs.csv.split(',') | length }}",
        "{{ inputs.name | replace('-', '_') }}",
        "{{ inputs.text | indent(4) }}",
        "{{ x is defined and x is not none }}",
        "plain text with no template",
    ],
)
def test_bounded_templates(template: str) -> None:
    assert is_bounded(template)


@pytest.mark.parametrize(
    "template",
    [
        RUNAWAY,
        "{% for h in inputs.hosts %}{{ h }},{% endfor %}",
        "{% macro m() %}x{% endmacro %}{{ m() }}",
        "{% filter upper %}x{% endfilter %}",
        "{{ '%s' % inputs.x }}",  # printf widths can be huge: '%0999999999d'
        "{{ '{:>999999999}'.format(1) }}",
        "{{ inputs.x | center(1000000000) }}",
        "{{ inputs.x | indent(inputs.width) }}",
        "{{ inputs.hosts | join(inputs.separator) }}",
        "{{ inputs.x | replace('a', inputs.y) }}",
        "{{ inputs.x | replace('', 'a replacement longer than thirty-two characters') }}",
        "{{ inputs.x | map('center', 100000) | list }}",
        "{{ inputs.x | wordwrap(5) }}",
        "{{ inputs.x | striptags }}",  # a regular expression that backtracks on '<<<<...'
        "{{ lipsum(100000) }}",
        "{{ inputs.f(1) }}",
        "{{ dict(**inputs) }}",
        "{{ inputs.items | select(inputs.test) | list }}",
        # Growth that compounds: each step doubles (or multiplies by 32) the last one's.
        "{% set a = inputs.s %}" + "{% set a = a ~ a %}" * 40 + "{{ a }}",
        "{{ inputs.x | replace('a', 'bb') | replace('b', 'cc') }}",
        "{{ ('x' * 8000000) | replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}",
        "{{ (inputs.a ~ inputs.a) ~ (inputs.a ~ inputs.a) }}",
    ],
)
def test_unbounded_templates(template: str) -> None:
    assert not is_bounded(template)


@pytest.fixture
def context() -> dict[str, Any]:
    return build_context(inputs={"n": 10**6}, steps={}, run_id="r", workflow="w", secrets={})


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 'x' * 10**9 }}", "* would build 1,000,000,000 characters; at most 8,388,608"),
        ("{{ 10**9 * 'x' }}", "* would build 1,000,000,000 characters"),
        ("{{ [0] * inputs.n * 100 }}", "* would build 100,000,000 items; at most 1,000,000"),
        ("{{ 10 ** (10 ** 9) }}", "** would build an integer"),
        ("{{ (2 ** 100000) * (2 ** 100000) }}", "* would build an integer"),
    ],
)
def test_repetition_and_powers_fail_before_computing(
    context: dict[str, Any], template: str, reason: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        render(template, context)
    assert reason in caught.value.message
    assert time.monotonic() - started < 0.5


def test_small_repetitions_and_powers_still_work(context: dict[str, Any]) -> None:
    assert render("{{ '-' * 3 }}{{ 2 ** 10 }}", context) == "---1024"
    assert render("{{ [1, 2] * 2 }}", context) == [1, 2, 1, 2]
    assert render("{{ 2.5 * 2 }}", context) == 5.0
