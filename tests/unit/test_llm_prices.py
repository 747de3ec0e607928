"""The price file (`--llm-prices`) as the service reads it at start, what a call costs, and
the wait a throttling answer asks for (`retry_after`, shared by `http` and `llm`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from executor.actions.http import MAX_RETRY_AFTER, retry_after
from executor.actions.prices import Price, load_prices
from executor.errors import ConfigError
from executor.settings import parse_settings


def test_a_call_costs_its_input_cached_input_and_output_tokens() -> None:
    price = Price(input=2.5, output=10.0, cached_input=1.25)
    assert price.cost(1_000_000, 0) == 2.5
    assert price.cost(1000, 500, cached_tokens=400) == (600 * 2.5 + 400 * 1.25 + 500 * 10.0) / 1e6
    assert Price(input=3, output=15).cost(1000, 0, cached_tokens=1000) == 0.003, "cached: as input"
    assert price.cost(100, 0, cached_tokens=500) == 100 * 1.25 / 1e6, "never more cached than input"
    assert Price(input=0.1, output=0.2).cost(1, 2) == 0.0000005, "no float noise"


def test_a_price_file_in_yaml_or_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text(
        "gpt-4o: {input: 2.5, output: 10, cached_input: 1.25}\nllama3.2: {input: 0, output: 0}\n"
    )
    assert load_prices(str(yaml_file)) == {
        "gpt-4o": Price(2.5, 10.0, 1.25),
        "llama3.2": Price(0.0, 0.0),
    }
    json_file = tmp_path / "prices.json"
    json_file.write_text('{"m": {"input": 1, "output": 2}}')
    assert load_prices(str(json_file)) == {"m": Price(1.0, 2.0)}
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing priced yet\n")
    assert load_prices(str(empty)) == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2]", "must map model names to prices"),
        ("gpt-4o: 2.5\n", "gpt-4o: must be a mapping with input and output"),
        ("gpt-4o: {input: 2.5}\n", "gpt-4o.output: is required"),
        ("gpt-4o: {input: -1, output: 2}\n", "gpt-4o.input: -1 is not a price"),
        ("gpt-4o: {input: 1, output: true}\n", "gpt-4o.output: True is not a price"),
        ("gpt-4o: {input: 1, output: .inf}\n", "gpt-4o.output: inf is not a price"),
        ("gpt-4o: {input: 1, output: 2, cache: 1}\n", "gpt-4o.cache: unknown field"),
        ("gpt-4o: {input: 1, output: [2\n", "is not YAML or JSON"),
    ],
)
def test_a_price_file_that_is_not_right_is_named_at_start(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse_settings(llm_prices=str(path))
    assert caught.value.message.startswith(f"invalid --llm-prices (EXECUTOR_LLM_PRICES): {path}")
    assert problem in caught.value.message


def test_the_settings_of_the_llm_action() -> None:
    defaults = parse_settings()
    assert defaults.llm_base_url == "https://api.openai.com/v1" and defaults.llm_prices == {}
    assert (
        parse_settings(llm_base_url="http://localhost:11434/v1/").llm_base_url == "http://localhost:11434/v1"
    )
    with pytest.raises(ConfigError, match=r"--llm-base-url .*'localhost:11434' is not an http"):
        parse_settings(llm_base_url="localhost:11434")


def response(status: int, headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_ms_comes_first_and_any_status_may_be_asked_for() -> None:
    assert retry_after(response(429, {"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(response(429, {"retry-after-ms": "soon", "retry-after": "9"})) == 9.0
    assert retry_after(response(503, {"retry-after-ms": "99999999"})) == MAX_RETRY_AFTER
    assert retry_after(response(500, {"retry-after": "3"})) is None, "http: 429 and 503 only"
    assert retry_after(response(500, {"retry-after": "3"}), statuses=(500,)) == 3.0
    assert retry_after(response(408, {"retry-after-ms": "-5"}), statuses=(408,)) == 0.0
