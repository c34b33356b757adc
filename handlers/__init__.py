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
    mydata,
    plan,
    start,
    submit,
)


def build_router() -> Router:
    root = Router(name="civicbot")
    root.include_routers(
        errors.build(),
        membership.build(),
        start.build(),
        language.build(),
        consultations.build(),
        plan.build(),
        submit.build(),
        mydata.build(),
        groups.build(),
        fallback.build(),
    )
    return root
