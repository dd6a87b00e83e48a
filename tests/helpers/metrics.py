"""Reading a Prometheus exposition back into numbers."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[str, float]:
    """Every sample of an exposition (read by prometheus_client's own parser), keyed
    ``name{label="value",…}`` with the labels sorted."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            values[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return values
