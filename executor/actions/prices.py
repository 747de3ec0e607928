"""What a call to a model costs: the operator's price file (``--llm-prices``), read once at
start, and the arithmetic.

The file is YAML (or JSON, which YAML reads too): per model, USD per million tokens::

    gpt-4o-mini: {input: 0.15, output: 0.60, cached_input: 0.075}
    llama3.2: {input: 0, output: 0}

``cached_input`` is optional (cached input tokens then cost as much as the others). A
model the file does not name has no price: its calls cost ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FIELDS = ("input", "output", "cached_input")
PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens (reasoning tokens included)
    cached_input: float | None = None  # USD per million cached input tokens (None: as input)

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for a call: cached tokens are among the input tokens (as OpenAI counts them)."""
        cached = min(max(cached_tokens, 0), input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        total = (input_tokens - cached) * self.input + cached * cached_rate + output_tokens * self.output
        return round(total / PER, 12)  # no float noise in sums (0.1 + 0.2)


Prices = Mapping[str, Price]


def load_prices(path: str) -> dict[str, Price]:
    """The prices in file ``path``; ValueError naming the file, the model and the field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    try:  # JSON first: YAML 1.1 reads JSON's 1e-3 as text
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"{path} is not YAML or JSON{where}: {what}") from None
    return parse_prices(data, path)


def parse_prices(data: Any, where: str) -> dict[str, Price]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must map model names to prices, e.g. gpt-4o: {{input: 2.5, output: 10}}")
    prices = {}
    for model, entry in data.items():
        if not isinstance(model, str) or not model:
            raise ValueError(f"{where}: {model!r} is not a model name")
        if not isinstance(entry, dict):
            raise ValueError(
                f"{where}: {model}: must be a mapping with input and output (USD per million tokens)"
            )
        unknown = sorted(str(key) for key in entry if key not in FIELDS)
        if unknown:
            raise ValueError(f"{where}: {model}.{unknown[0]}: unknown field (expected {', '.join(FIELDS)})")
        for field in ("input", "output"):
            if field not in entry:
                raise ValueError(f"{where}: {model}.{field}: is required (USD per million tokens)")
        values = {field: _usd(where, model, field, entry[field]) for field in FIELDS if field in entry}
        prices[model] = Price(**values)
    return prices


def _usd(where: str, model: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{where}: {model}.{field}: {value!r} is not a price (USD per million tokens, 0 or more)"
        )
    return float(value)
