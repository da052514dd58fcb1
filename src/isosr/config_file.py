"""Strict reading of a YAML (or JSON) config file.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word, reads a binary file into
a ``UnicodeDecodeError`` and lets a few lines of aliases (a "billion laughs") stand for millions
of nodes, which every later walk (schema validation, copies, error messages) then expands. This
loader refuses all three in one line naming the file: a key given twice (with both lines), bytes
that are not UTF-8 text, and a document that expands to more than ``MAX_NODES`` nodes, every
alias counted with the whole subtree it stands for each time it is referenced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from isosr.io import InputError

# A config's nodes (mappings, lists, scalars, aliases expanded): the shipped ones have a few
# hundred; 100,000 leaves room for thousands of subjects listed by hand.
MAX_NODES = 100_000


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys and documents above MAX_NODES (expanded);
    errors are InputError naming ``name`` (the file)."""

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self.name = name
        self.sizes: dict[int, int] = {}  # id(node) -> nodes it expands to
        self.path: list[str] = []  # keys from the root to the node being composed

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        alias = self.check_event(yaml.AliasEvent)
        line = self.peek_event().start_mark.line + 1
        step = (f"[{index}]" if isinstance(index, int) else
                f".{index.value}" if isinstance(index, yaml.ScalarNode) else "")
        self.path.append(step)
        try:
            node = super().compose_node(parent, index)
            if alias:
                if id(node) not in self.sizes:  # its anchor is still being composed
                    raise InputError(f"{self.name}: line {line}: {self._key()} refers to an "
                                     "anchor that contains it (an endless document)")
                self._count(self.sizes[id(node)], line)
                return node
            children: list[yaml.Node] = (
                node.value if isinstance(node, yaml.SequenceNode) else
                [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else [])
            self.sizes[id(node)] = 1 + sum(self.sizes[id(child)] for child in children)
            self._count(self.sizes[id(node)], line)
            if isinstance(node, yaml.MappingNode):
                self._refuse_duplicates(node)
            return node
        finally:
            self.path.pop()

    def _key(self, last: str = "") -> str:
        return ("".join(self.path) + last).lstrip(".") or "the document"

    def _count(self, size: int, line: int) -> None:
        if size > MAX_NODES:
            raise InputError(f"{self.name}: line {line}: {self._key()} expands to more than "
                             f"{MAX_NODES:,} nodes (aliases counted each time they are used); "
                             "a config is far smaller")

    def _refuse_duplicates(self, node: yaml.MappingNode) -> None:
        """A key given twice in one mapping (a ``<<`` merge may override, as YAML says)."""
        first: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            value, line = self.construct_object(key), key.start_mark.line + 1
            if value in first:
                lines = (f"lines {first[value]} and {line}" if first[value] != line
                         else f"both on line {line}")
                raise InputError(f"{self.name}: {self._key(f'.{value}')} is given twice "
                                 f"({lines}); only the last would count: remove one")
            first[value] = line


def load_config_file(path: str | Path) -> Any:
    """The content of the YAML or JSON file ``path``, read strictly (see the module); any
    problem is an InputError of one line naming the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the config file ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(f"{path}: not a UTF-8 text file (byte {data[error.start]:#04x} at line "
                         f"{line}); a config is YAML text") from None
    try:
        return StrictLoader(text, str(path)).get_single_data()
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        raise InputError(f"{path}: line {line}: character U+{error.character:04X} is not "
                         "allowed in YAML; a config is YAML text, not a binary file") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = "; ".join(filter(None, (error.context, error.problem)))
        raise InputError(f"{path}:{where} not valid YAML ({problem})") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None


def check_config_file(path: str | Path) -> None:
    """Read ``path`` strictly; exit with one line ``isosr error: ...`` if it is refused (for the
    workflow, before Snakemake reads the file its own way)."""
    try:
        load_config_file(path)
    except InputError as error:
        raise SystemExit(f"isosr error: {error}") from None
