"""The ``analysis:`` section of a study file: schema, defaults, validation.

The schema is ``workflow/schemas/study_analysis.schema.yaml`` (JSON Schema in YAML; every
option has a default). :func:`with_defaults` validates a section and fills every default,
with the project's defaulting validator (:func:`icu_cohort.config.validate`).
"""

from __future__ import annotations

import copy

from .. import config as _config

SCHEMA_FILE = "study_analysis.schema.yaml"


def analysis_schema() -> dict:
    """The JSON Schema of the ``analysis`` section itself."""
    return _config.load_schema(SCHEMA_FILE)["properties"]["analysis"]


def with_defaults(section: dict | None, source: str = "analysis") -> dict:
    """Validate ``section`` (None = empty) and return a copy with every default filled.

    Raises :class:`icu_cohort.config.ConfigError` naming the offending key.
    """
    wrapper = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
               "properties": {"analysis": analysis_schema()}}
    filled = _config.validate({"analysis": copy.deepcopy(section or {})}, wrapper, source)
    return filled["analysis"]


def defaults() -> dict:
    """The full default ``analysis`` section."""
    return with_defaults({})
