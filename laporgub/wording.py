"""The fixed texts of ``laporgub/data/texts.toml``, read once: a leaf module, so that the config
(the defaults of its newer ``[texts]`` keys) and the renderer (:mod:`laporgub.render`, which
re-exports these) both read them without importing each other."""

from __future__ import annotations

import functools
import string
import tomllib
from collections.abc import Mapping
from importlib import resources

#: The fixed texts' file in the package's data (``[section] key = "template"``).
TEXTS_FILE = "texts.toml"


@functools.cache
def fixed_texts() -> Mapping[str, str | tuple[str, ...]]:
    """Every fixed text by its key (``chat.not_registered``), from ``laporgub/data/texts.toml``.

    A text is a string, or a list of strings (a table's column headings).
    """
    data = tomllib.loads(resources.files("laporgub").joinpath(f"data/{TEXTS_FILE}").read_text(encoding="utf-8"))
    flat: dict[str, str | tuple[str, ...]] = {}
    for section, table in data.items():
        for key, value in table.items():
            flat[f"{section}.{key}"] = value if isinstance(value, str) else tuple(value)
    return flat


def wording(key: str, **values: object) -> str:
    """The fixed text ``key`` with its ``$placeholders`` filled in (every one must be given).

    Values are put in as they are: escape citizen or PIC text first (:meth:`Renderer.escape`)
    when the text goes out in Telegram's HTML mode.
    """
    template = fixed_texts()[key]
    assert isinstance(template, str), f"{key} is a list: use wordings()"
    return _fill(template, values)


def wordings(key: str, **values: object) -> tuple[str, ...]:
    """The fixed list of texts ``key`` (column headings), each with its ``$placeholders`` filled in."""
    templates = fixed_texts()[key]
    assert not isinstance(templates, str), f"{key} is one text: use wording()"
    return tuple(_fill(t, values) for t in templates)


def _fill(template: str, values: Mapping[str, object]) -> str:
    t = string.Template(template)
    return t.substitute({k: str(values[k]) for k in t.get_identifiers() if k in values})


def placeholders(template: str) -> frozenset[str]:
    """The ``$names`` a template uses."""
    return frozenset(string.Template(template).get_identifiers())


