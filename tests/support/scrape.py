"""
Reading Prometheus text the way a scraper does, for tests of ``/metrics``.

:func:`parse` turns an exposition (the text a ``/metrics`` page serves) into
:class:`Samples`, using prometheus_client's own parser, so a page that does not
parse fails the test.  :meth:`Samples.get` reads one sample (``0`` when the
series does not exist yet: a counter that never moved), :meth:`Samples.sum`
adds up every series of a name whose labels include the ones given.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "parse"]


@dataclass(frozen=True)
class Samples:
    """Every sample of one scrape: ``(sample name, labels) -> value``."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]
    #: metric family name -> type (``counter``, ``gauge``, ``histogram``...)
    types: dict[str, str]

    def get(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when there is none."""
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def sum(self, name: str, **labels: str) -> float:
        """The sum of every sample ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and wanted <= ls)

    def labels(self, name: str, label: str) -> set[str]:
        """The values ``label`` takes in the samples ``name``."""
        return {dict(ls)[label] for (n, ls) in self.values if n == name and label in dict(ls)}

    def __contains__(self, name: str) -> bool:
        return any(n == name for n, _ in self.values)


def parse(text: str | bytes) -> Samples:
    """Parse a Prometheus text exposition (raises ``ValueError`` when it is not one)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Samples(values, types)
