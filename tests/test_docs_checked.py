"""The docs that restate the code are checked against it: the README's settings table
against ``Settings``, the strategy tables of docs/strategies.md against the registry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from service.curricula.base import strategy_option_schemas
from service.curricula.objectives import EPSILON_ARMS, OBJECTIVES, SAMPLING_RULES
from service.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
STRATEGIES = (REPO / "docs" / "strategies.md").read_text()


def _settings_table() -> dict[str, str]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ZPD_[A-Z_]+)` \| (.*?) \| .* \|$", section, flags=re.M)
    return {name: default.strip("`") for name, default in rows}


def _shown(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def test_readme_lists_every_setting_with_its_default() -> None:
    table = _settings_table()
    fields = {f"ZPD_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert sorted(table) == sorted(fields)
    for name, field in fields.items():
        assert table[name] == _shown(field.default), name


def _section(name: str) -> str:
    """The part of docs/strategies.md about strategy ``name`` (its own ### section)."""
    heading = re.search(rf"^### .*`{re.escape(name)}`.*$", STRATEGIES, flags=re.M)
    assert heading, f"docs/strategies.md has no section for strategy {name!r}"
    end = STRATEGIES.find("\n## ", heading.end())
    following = STRATEGIES.find("\n### ", heading.end())
    ends = [e for e in (end, following) if e != -1]
    return STRATEGIES[heading.start() : min(ends) if ends else len(STRATEGIES)]


def test_every_registered_strategy_has_a_section_with_every_option() -> None:
    schemas = strategy_option_schemas()
    assert {"sec", "random", "ordered", "reverse", "thompson"} <= set(schemas)
    for name, schema in schemas.items():
        section = _section(name)
        # advantage_std is every strategy's option, documented once at the top
        for option in set(schema["properties"]) - {"advantage_std"}:
            assert f"| `{option}` |" in section, f"docs/strategies.md: {name} lacks {option}"
    assert "`advantage_std`" in STRATEGIES.split("## Which one?", 1)[0]


def test_every_objective_and_sampling_rule_is_described() -> None:
    objectives = STRATEGIES.split("(`objective`)", 1)[1].split("\n## ", 1)[0]
    for objective in OBJECTIVES:
        assert f"| `{objective}` " in objectives, objective
    sec = _section("sec")
    for rule in SAMPLING_RULES + EPSILON_ARMS:
        assert f'"{rule}"' in sec or f"`{rule}`" in sec, rule
