"""Translations and locale-aware formatting.

Catalogs are the `.po` files in `locales/`, compiled in memory at start-up, so the
repository holds only text. Code marks strings with `tr("...")`, `tr.plural(...)`
and, where no translator is at hand yet (module level), `N_("...")`.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale as BabelLocale
from babel.dates import format_date, format_time, get_datetime_format, get_timezone_location
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.config import DEFAULT_TIMEZONE, SUPPORTED_LOCALES
from bot.resources import data_dir

LOCALES_DIR = data_dir("locales")
DOMAIN = "messages"


def N_(message: str) -> str:
    # The gettext convention: marks a string for extraction, translated later.
    return message


LANGUAGE_NAMES = {"bg": "Български", "sl": "Slovenščina", "en": "English"}
# The formats of dates and numbers: a European municipality's English is British
# ("10 November 2021, 23:59"), not American ("November 10, 2021, 11:59 PM").
FORMAT_LOCALES = {"en": "en_GB"}
# Zones as people name them ("Sofia time", "софийско време"), not "Europe/Sofia" nor
# Babel's "Eastern European Summer Time"; other zones by their city. UTC is "UTC".
ZONE_NAMES = {
    "Europe/Sofia": N_("Sofia time"),
    "Europe/Ljubljana": N_("Ljubljana time"),
}
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"})


def missing_catalogs(directory: Path | None = None) -> list[str]:
    """The supported locales without a catalog (a broken installation)."""
    directory = directory or LOCALES_DIR
    return [
        locale
        for locale in SUPPORTED_LOCALES
        if not (directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    ]


class Catalogs:
    """The compiled catalogs of every supported locale."""

    def __init__(
        self, translations: dict[str, gettext.NullTranslations], home_zone: str = DEFAULT_TIMEZONE
    ) -> None:
        self._translations = translations
        self.home_zone = home_zone

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, *, home_zone: str = DEFAULT_TIMEZONE) -> Catalogs:
        """`home_zone`: the municipality's time zone (the TIMEZONE setting)."""
        translations: dict[str, gettext.NullTranslations] = {}
        for locale in SUPPORTED_LOCALES:
            po_path = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
            translations[locale] = _compile(po_path) if po_path.exists() else _source_language()
        return cls(translations, home_zone)

    def translator(self, locale: str) -> Translator:
        return Translator(locale, self._translations[locale], self.home_zone)

    def for_person(
        self, chosen: str | None, telegram_language: str | None, default: str
    ) -> Translator:
        """A person's own choice, else their Telegram app's language, else the default."""
        return self.translator(chosen or negotiate(telegram_language, default, self.locales))

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._translations)


def _compile(po_path: Path) -> gettext.GNUTranslations:
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file)
    buffer = io.BytesIO()
    # Fuzzy entries are drafts: the English source is shown until someone confirms them.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _source_language() -> gettext.NullTranslations:
    return gettext.NullTranslations()


@dataclass(frozen=True)
class Translator:
    """Everything a handler needs to speak one resident's language."""

    locale: str
    translations: gettext.NullTranslations
    # The municipality's zone, for the times that belong to no consultation.
    home_zone: str = DEFAULT_TIMEZONE

    def __call__(self, message: str, /, **values: object) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def plural(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        text = self.translations.ngettext(singular, plural, count)
        return text % {"count": self.number(count), **values}

    @property
    def format_locale(self) -> str:
        return FORMAT_LOCALES.get(self.locale, self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.format_locale)

    def date(self, moment: datetime, zone: str) -> str:
        return format_date(moment.astimezone(ZoneInfo(zone)), "long", locale=self.format_locale)

    def datetime(self, moment: datetime, zone: str) -> str:
        """Long date and short time in the zone, e.g. "10 November 2021, 23:59"."""
        local = moment.astimezone(ZoneInfo(zone))
        date_text = format_date(local, "long", locale=self.format_locale)
        time_text = format_time(local, "short", locale=self.format_locale)
        return get_datetime_format("medium", locale=self.format_locale).format(time_text, date_text)

    def zone_name(self, zone: str) -> str:
        """The zone as people say it in running text: "Sofia time", "софийско време",
        "ljubljanski čas", "UTC" (the one helper for every zone a person reads)."""
        if zone in UTC_ZONES:
            return "UTC"
        if zone in ZONE_NAMES:
            return self(ZONE_NAMES[zone])
        city = get_timezone_location(ZoneInfo(zone), locale=self.format_locale, return_city=True)
        return self(N_("%(city)s time"), city=city)

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.locale) or BabelLocale.parse(self.locale).display_name

    def name_of_language(self, code: str) -> str:
        """Another language's name in this one, as used mid-sentence ("Bulgarian",
        "bolgarščina", "български")."""
        return BabelLocale.parse(self.format_locale).languages.get(code, code)


def negotiate(language_code: str | None, default: str, supported: Iterable[str]) -> str:
    """Telegram's language_code ("sl", "bg-BG", "en-US") -> one of ours, else the default."""
    if language_code:
        primary = language_code.replace("_", "-").split("-")[0].lower()
        if primary in supported:
            return primary
    return default
