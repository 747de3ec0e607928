"""Reading `GET /metrics` the way Prometheus does: the exposition parsed by prometheus-client's
own parser, samples looked up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    samples: list[Sample]
    help: dict[str, str]  # family name → help text
    types: dict[str, str]  # family name → counter, gauge, histogram, info...

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: list[Sample] = []
        helps: dict[str, str] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            helps[family.name] = family.documentation
            types[family.name] = family.type
            samples.extend(family.samples)
        return cls(samples, helps, types)

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` whose labels include ``labels`` (0 when there is none yet: a
        labelled counter appears on its first increment); several matching are summed."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(
            sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
            for sample in self.samples
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {
            sample.labels[label] for sample in self.samples if sample.name == name and label in sample.labels
        }
