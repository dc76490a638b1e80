"""The config schema is declared once (laporgub/config.py); config.toml and the README's table follow it.

Every key of :func:`laporgub.config.schema` must appear in the commented ``config.toml`` (set or
commented out) with its default, and in the README's configuration table with its default; a key
those documents show that the schema does not know is stale. The code wins: a default changed in
the code fails here until the documents say the same.
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from typing import Any

import pytest

from laporgub.config import REQUIRED, SECTIONS, Key, option, parse_config, schema
from tests.conftest import ROOT, default_data

CONFIG = ROOT / "config.toml"
README = ROOT / "README.md"
KEYS = [key for key in schema() if key.name != "*"]  # [abbreviations] takes any word


def _norm(value: Any) -> Any:
    """TOML lists as tuples, TOML tables as dicts of normalised values (defaults are tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _unset(default: Any) -> bool:
    """A default that means "not set" (an example value may stand beside it in the documents)."""
    return default is REQUIRED or default is None or default == () or default == {}


def _table_name(header: str) -> str:
    header = header.strip("[] ")
    return "groups.<key>" if header.startswith("groups.") else header


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, _norm(tomllib.loads(f"v = {text}")["v"])
    except tomllib.TOMLDecodeError:
        return False, None


def config_toml_values() -> dict[tuple[str, str], list[Any]]:
    """``{(table, key): [values shown]}`` from config.toml: its real keys and its commented-out ones."""
    shown: dict[tuple[str, str], list[Any]] = defaultdict(list)
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))

    def walk(table: str, node: Any) -> None:
        for entry in node if isinstance(node, list) else [node]:
            for key, value in entry.items():
                inner = f"{table}.{key}" if table else key
                if inner == "groups":
                    for group in value.values():
                        walk("groups.<key>", group)
                elif inner in TABLES and (isinstance(value, dict) or (
                        isinstance(value, list) and value and isinstance(value[0], dict))):
                    walk(inner, value)
                else:
                    shown[(table, key)].append(_norm(value))

    walk("", data)
    table = ""
    for line in CONFIG.read_text(encoding="utf-8").splitlines():
        header = re.fullmatch(r"(?:#\s*)?(\[\[?[A-Za-z0-9_.]+\]\]?)\s*", line)
        if header:
            table = _table_name(header.group(1))
            continue
        commented = re.match(r"#\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$", line)
        if commented:
            ok, value = _literal(commented.group(2))
            shown[(table, commented.group(1))].append(value if ok else "<unparsed>")
    return shown


TABLES = {key.table for key in schema()}


def test_every_key_is_in_config_toml_with_its_default() -> None:
    shown = config_toml_values()
    problems = []
    for key in KEYS:
        values = shown.get((key.table, key.name))
        if not values:
            problems.append(f"{key.path}: not in config.toml (default {key.default!r})")
        elif not _unset(key.default) and _norm(key.default) not in values:
            problems.append(f"{key.path}: config.toml shows {values}, the default is {key.default!r}")
        elif not _unset(key.default) and "." not in key.table and not key.array and any(
                v != _norm(key.default) for v in values):
            problems.append(f"{key.path}: config.toml shows {values}, the default is {key.default!r}")
    known = {(key.table, key.name) for key in schema()}
    free = {section.key for section in SECTIONS if section.schema is None}
    problems += [f"{table}.{name}: in config.toml but not in the schema" for table, name in shown
                 if (table, name) not in known and table not in free]
    assert problems == []


def readme_rows() -> dict[str, str]:
    """The README's configuration table: ``{table: its keys cell}``."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\| `(\[\[?[^`]+\]\]?)` \| (.*) \|", line)
        if match:
            rows[_table_name(match.group(1))] = match.group(2)
    return rows


#: A key in the README's table: `name`, then its default as a TOML literal (none for a required key).
_README_KEY = re.compile(r'`([a-z_][a-z0-9_]*)`(?: ("[^"]*"|\[[^\]]*\]|\{[^}]*\}|true|false|-?[0-9][0-9_.]*))?')


def test_every_key_is_in_the_readme_table_with_its_default() -> None:
    rows = readme_rows()
    problems = []
    for key in KEYS:
        cell = rows.get(key.table)
        if cell is None:
            problems.append(f"{key.path}: the README's table has no row [{key.table}]")
            continue
        found = [m for m in _README_KEY.finditer(cell) if m.group(1) == key.name]
        if not found:
            problems.append(f"{key.path}: not in the README's table")
        elif not _unset(key.default) and key.kind != "template" and all(  # a template's default: config.toml
                m.group(2) is None or _literal(m.group(2)) != (True, _norm(key.default)) for m in found):
            problems.append(f"{key.path}: the README's table does not give its default {key.default!r}")
    for table, cell in rows.items():
        known = {key.name for key in KEYS if key.table == table}
        problems += [f"{table}.{m.group(1)}: in the README's table with a default but not in the schema"
                     for m in _README_KEY.finditer(cell) if m.group(2) is not None and m.group(1) not in known]
    assert problems == []


def test_every_key_has_a_doc_and_a_table_left_out_is_its_defaults() -> None:
    assert [key.path for key in schema() if not key.doc] == []
    for section in SECTIONS:
        if section.required or section.array or section.schema is None or section.read is not None:
            continue
        data = default_data()
        data.pop(section.key, None)
        if section.key == "report":
            data["report"] = {"extra_chat_ids": []}  # the leaders of config.toml receive it
        assert getattr(parse_config(data), section.key) == section.schema(), section.key


def test_a_key_declared_with_unknown_metadata_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown option metadata"):
        option(1, doc="x", maximum=3)


def test_schema_lists_bounds_and_required_keys() -> None:
    by_path: dict[str, Key] = {key.path: key for key in schema()}
    assert by_path["service.database"].default is REQUIRED
    assert by_path["service.lease_seconds"].bounds == {"min": 1.0, "max": 600.0}
    assert by_path["api.webhooks.timeout_seconds"].array
    assert by_path["report.formats"].bounds["choices"] == ("pdf", "xlsx", "csv")
    assert by_path["modems.baudrate"].default == 115200


def test_every_field_of_the_schema_says_only_what_the_loader_reads() -> None:
    from dataclasses import fields

    from laporgub.config import _OPTION_KEYS

    def classes(schema_class: type) -> list[type]:
        nested = [f.metadata["item"] for f in fields(schema_class) if "item" in f.metadata]
        return [schema_class, *nested]

    for section in SECTIONS:
        for schema_class in classes(section.schema) if section.schema else []:
            for f in fields(schema_class):
                assert set(f.metadata) <= {"doc", *_OPTION_KEYS}, (schema_class.__name__, f.name)
