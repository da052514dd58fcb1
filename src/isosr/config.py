"""Semantic checks of a (schema-validated) workflow config, and the plan derived from it.

The JSON Schema catches typos and types; this module catches what a schema cannot: a scenario
that uses a contrast a dataset lacks, an unregistered method, a reference method not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from isosr.data.embedded import EmbeddedOptions, subject_ids
from isosr.methods import method_class, method_names


class ConfigError(ValueError):
    """A config that is well-formed but inconsistent; the message names the offending key."""


@dataclass(frozen=True)
class Plan:
    """What the workflow runs: datasets x scenarios x methods x subjects."""

    config: dict[str, Any]

    def __post_init__(self) -> None:
        self.check()

    @property
    def datasets(self) -> list[str]:
        return sorted(self.config["datasets"])

    @property
    def scenarios(self) -> list[str]:
        return sorted(self.config["scenarios"])

    @property
    def methods(self) -> list[str]:
        return list(self.config["methods"])

    def dataset(self, name: str) -> dict[str, Any]:
        return self.config["datasets"][name]

    def scenario_contrasts(self, scenario: str) -> list[str]:
        """The contrasts acquired in ``scenario``, sorted."""
        return sorted(self.config["scenarios"][scenario]["contrasts"])

    def acquisition(self, scenario: str, contrast: str) -> dict[str, Any]:
        return dict(self.config["scenarios"][scenario]["contrasts"][contrast])

    def method_params(self, method: str) -> dict[str, Any]:
        return dict(self.config["methods"][method] or {})

    def embedded_options(self, dataset: str) -> EmbeddedOptions:
        return EmbeddedOptions(**self.dataset(dataset).get("embedded", {}))

    def subjects(self, dataset: str) -> list[str]:
        """Subject labels of ``dataset`` (without the 'sub-' prefix)."""
        spec = self.dataset(dataset)
        if spec["source"] == "embedded":
            return subject_ids(self.embedded_options(dataset))
        raise ConfigError(f"datasets.{dataset}.source: unsupported source {spec['source']!r}")

    def datasets_of_source(self, source: str) -> list[str]:
        return [d for d in self.datasets if self.dataset(d)["source"] == source]

    def scenarios_by_contrasts(self) -> dict[tuple[str, ...], list[str]]:
        """Scenarios grouped by the set of contrasts they acquire (one fit rule per group)."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for scenario in self.scenarios:
            groups.setdefault(tuple(self.scenario_contrasts(scenario)), []).append(scenario)
        return groups

    def tables(self, pattern: str) -> list[str]:
        """``pattern`` formatted for every dataset x scenario."""
        return [pattern.format(dataset=d, scenario=s)
                for d in self.datasets for s in self.scenarios]

    def caption(self, dataset: str, scenario: str) -> str:
        """Table caption: what the data are and how the LR scans were simulated."""
        spec = self.dataset(dataset)
        origin = ("synthetic subjects derived from the ICBM152 2009 template (not patient data)"
                  if spec["source"] == "embedded" else f"dataset {dataset}")
        acquisitions = "; ".join(
            f"{c} {a['view']} {a['thickness']:g} mm ({a.get('model', 'slice-profile')})"
            for c, a in sorted(self.config["scenarios"][scenario]["contrasts"].items()))
        return (f"{dataset} / {scenario}: {origin}; LR {acquisitions}; "
                f"mean ± std over {len(self.subjects(dataset))} subjects.")

    def check(self) -> None:
        """Raise ConfigError for the first inconsistency found."""
        known = set(method_names())
        for method in self.methods:
            if method not in known:
                raise ConfigError(f"methods.{method}: unknown method; known: {sorted(known)}")
            method_class(method)
        if self.config["reference_method"] not in self.config["methods"]:
            raise ConfigError(f"reference_method: {self.config['reference_method']!r} is not "
                              f"listed under methods ({self.methods})")
        for name in self.datasets:
            spec = self.dataset(name)
            contrasts = spec["contrasts"]
            if spec["reference_contrast"] not in contrasts:
                raise ConfigError(f"datasets.{name}.reference_contrast: "
                                  f"{spec['reference_contrast']!r} is not among its contrasts "
                                  f"{contrasts}")
            for scenario in self.scenarios:
                missing = sorted(set(self.scenario_contrasts(scenario)) - set(contrasts))
                if missing:
                    raise ConfigError(f"scenarios.{scenario} needs contrast(s) {missing}, which "
                                      f"dataset {name!r} lacks (it has {contrasts})")
