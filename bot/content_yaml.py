"""Consultation files written out (the format of examples/README.md), for people to read
and edit: keys in the documented order, texts as written, long texts as blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def to_yaml(mapping: Mapping[str, Any], notes: Mapping[str, str] | None = None) -> str:
    """`notes` puts a comment line above a top-level key, e.g. what is still to fill in."""
    import yaml  # only a command that writes a file loads PyYAML

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    written = yaml.dump(
        dict(mapping),
        Dumper=Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
        default_flow_style=False,
    )
    if not notes:
        return written
    lines: list[str] = []
    for line in written.splitlines():
        key = line.partition(":")[0]
        if key in notes and not line.startswith((" ", "-")):
            lines.extend(f"# {note}" for note in notes[key].splitlines())
        lines.append(line)
    return "\n".join(lines) + "\n"
