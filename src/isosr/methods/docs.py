"""The README's hyper-parameter tables, generated from each method's dataclass (their one
source of truth). ``python -m isosr.methods.docs README.md`` rewrites the tables between
``<!-- parameters: <method> -->`` and ``<!-- /parameters -->``; a test checks they are current.
"""

from __future__ import annotations

import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from isosr.methods.registry import method_spec

BLOCK = re.compile(r"(<!-- parameters: (?P<method>[\w-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /parameters -->)", re.DOTALL)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"`{value:.4g}`"
    return "—" if value is None else f"`{value}`" if not isinstance(value, str) else value


def parameter_table(method: str) -> str:
    """Markdown table of ``method``'s hyper-parameters: one column per profile (if any)."""
    params = method_spec(method).params
    module = sys.modules[params.__module__]
    profiles: dict[str, dict[str, Any]] = getattr(module, "PROFILES", {})
    header = ["key", *(f"`{p}`" for p in profiles), "default" if not profiles else "otherwise",
              "meaning"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for f in fields(params):
        default = None
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        cells = [f"`{f.name}`", *(_value(p.get(f.name)) if f.name in p else "" for p in
                                  profiles.values()),
                 "" if any(f.name in p for p in profiles.values()) else _value(default),
                 f.metadata.get("help", "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    """``text`` with every parameter block replaced by the current table."""
    return BLOCK.sub(lambda m: m.group(1) + parameter_table(m.group("method")) + m.group(4), text)


if __name__ == "__main__":
    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    readme.write_text(render(readme.read_text()))
