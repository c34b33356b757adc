"""Which time zone a time is shown in.

A consultation's times (its dates, what was sent to it) are in its organizer's zone; every
other time (the general channel, lists across consultations) is in the municipality's,
the TIMEZONE setting. `Translator.zone_name` says a zone's name the way people do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.models import Consultation


def zone_of(consultation: Consultation | None, home_zone: str) -> str:
    return consultation.timezone if consultation is not None else home_zone
