"""Where the files the bot reads at run time are: inside the installed package (a wheel
carries locales/ and examples/ as bot/locales and bot/examples, see pyproject.toml), or
the source tree's top-level folders when it runs from a checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    shipped = PACKAGE_DIR / name
    return shipped if shipped.is_dir() else PACKAGE_DIR.parent / name
