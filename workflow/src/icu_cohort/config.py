"""Reading and validating YAML against the project's JSON Schemas.

Two kinds of YAML file:

* ``config/config.yaml`` -- the run: where MIMIC-IV is (or the synthetic set to generate),
  which studies to run, DuckDB resources, report privacy settings. Schema:
  ``workflow/schemas/config.schema.yaml``.
* ``config/studies/<name>.yaml`` -- one study: question, cohort criteria, exposure, outcome,
  covariates, analysis. Its schema is assembled from ``workflow/schemas/study*.schema.yaml``:
  ``study.schema.yaml`` holds the top-level keys, and each ``study_<section>.schema.yaml``
  adds the properties of the sections it owns.

Studies are loaded into :class:`icu_cohort.study.Study` objects by :mod:`icu_cohort.study`,
which uses the study schema assembled here.

Validation fills in every default the schemas declare and fails on the first problem with a
message naming the file and the key (``duckdb.threads: 'two' is not of type 'integer'``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from icu_cohort.resources import schema_dir

SCHEMA_DIR = schema_dir()


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match its schema."""


def _extend_with_default(validator_class):
    """A jsonschema validator that also writes each property's ``default`` into the instance.

    This is the documented jsonschema recipe ("Why doesn't my schema's default property set
    the default on my instance?"), so validation and defaulting see the same schema.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _extend_with_default(jsonschema.Draft202012Validator)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing or malformed file raises :class:`ConfigError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        with path.open() as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def validate(instance: Any, schema: dict, source: str) -> dict:
    """Validate ``instance`` against ``schema``, fill defaults, and return the filled copy.

    Raises :class:`ConfigError` naming ``source`` and the offending key path. With several
    problems, the one deepest in the document is reported first (the most specific).
    """
    if instance is None:
        instance = {}
    if not isinstance(instance, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values at the top level")
    filled = copy.deepcopy(instance)
    validator = _DefaultingValidator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: -len(e.absolute_path))
    if errors:
        err = errors[0]
        raise ConfigError(f"{source}: {_key_path(err)}: {err.message}")
    return filled


def load_schema(name: str, schema_dir: Path = SCHEMA_DIR) -> dict:
    schema = read_yaml(Path(schema_dir) / name)
    if not isinstance(schema, dict):
        raise ConfigError(f"{Path(schema_dir) / name}: a schema must be a mapping")
    return schema


def study_schema(schema_dir: Path = SCHEMA_DIR) -> dict:
    """The study schema: ``study.schema.yaml`` plus every ``study_<section>.schema.yaml``."""
    schema = load_schema("study.schema.yaml", schema_dir)
    schema.setdefault("properties", {})
    for part_path in sorted(Path(schema_dir).glob("study_*.schema.yaml")):
        part = load_schema(part_path.name, schema_dir)
        for key, sub in (part.get("properties") or {}).items():
            if key in schema["properties"]:
                raise ConfigError(f"{part_path}: section {key!r} is already defined elsewhere")
            schema["properties"][key] = sub
        schema.setdefault("required", [])
        schema["required"] += [k for k in part.get("required", []) if k not in schema["required"]]
        schema.setdefault("$defs", {}).update(part.get("$defs", {}))
    return schema


def load_config(path: Path, overrides: dict | None = None) -> dict:
    """Read ``config/config.yaml``, apply command-line overrides, validate, fill defaults."""
    raw = read_yaml(path) or {}
    if overrides:
        raw = deep_merge(raw, overrides)
    return validate_config(raw, source=str(path))


def validate_config(raw: dict, source: str = "config") -> dict:
    return validate(raw, load_schema("config.schema.yaml"), source)


def deep_merge(base: dict, extra: dict) -> dict:
    """``extra`` merged over ``base``: mappings key by key, anything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------------------------
# config/README.md: the keys of config.schema.yaml as a Markdown table
# --------------------------------------------------------------------------------------------

#: The generated part of config/README.md lies between these two lines.
REFERENCE_BEGIN = "<!-- BEGIN config keys: generated from workflow/schemas/config.schema.yaml -->"
REFERENCE_END = "<!-- END config keys -->"


def _type_text(sub: dict) -> str:
    kind = sub.get("type", "object" if "properties" in sub else "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(str(k) for k in kinds if k)
    if sub.get("type") == "array" and isinstance(sub.get("items"), dict) and sub["items"].get("type"):
        text += f" of {sub['items']['type']}"
    if "enum" in sub:
        text += " (one of " + ", ".join(f"`{v}`" for v in sub["enum"]) + ")"
    return text


def _one_line(text: str | None) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def config_reference(schema: dict | None = None) -> str:
    """Every key of the run configuration (``config.schema.yaml``), nested keys dotted, as
    Markdown table rows: key, type, default, description. ``config/README.md`` holds this
    text between :data:`REFERENCE_BEGIN` and :data:`REFERENCE_END` (a test compares them)."""
    schema = schema if schema is not None else load_schema("config.schema.yaml")
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(props: dict, prefix: str) -> None:
        for key, sub in props.items():
            name = f"{prefix}{key}"
            default = sub.get("default", "")
            shown = "" if isinstance(default, dict) else f"`{json.dumps(default)}`"
            rows.append(f"| `{name}` | {_type_text(sub)} | {shown} | {_one_line(sub.get('description'))} |")
            if isinstance(sub.get("properties"), dict):
                walk(sub["properties"], f"{name}.")

    walk(schema.get("properties") or {}, "")
    return "\n".join([REFERENCE_BEGIN, *rows, REFERENCE_END]) + "\n"


def write_config_reference(readme: Path) -> None:
    """Replace the generated part of ``readme`` (config/README.md) with :func:`config_reference`."""
    text = Path(readme).read_text()
    start, end = text.index(REFERENCE_BEGIN), text.index(REFERENCE_END) + len(REFERENCE_END) + 1
    Path(readme).write_text(text[:start] + config_reference() + text[end:])
