"""Routers, one module per journey, in the order they see an update.

The fallback router is last: it answers whatever the others did not take.
"""

from __future__ import annotations

from aiogram import Router

from handlers import (
    consultations,
    errors,
    fallback,
    groups,
    language,
    membership,
    plan,
    start,
)


def build_router() -> Router:
    root = Router(name="civicbot")
    root.include_routers(
        errors.router,
        membership.router,
        start.router,
        language.router,
        consultations.router,
        plan.router,
        groups.router,
        fallback.router,
    )
    return root
