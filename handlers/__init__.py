"""aiogram routers, built by factories (no module-level state).

`setup_routers()` returns the root router in this order: admin (documents from admins), tickets
(the manager's replies to handoffs), manager (campaign review, when `handlers.manager` exists),
customer, and common (odd input) last.
"""

from __future__ import annotations

import importlib
import logging

from aiogram import Router

log = logging.getLogger(__name__)


def _optional_router(module_name: str) -> Router | None:
    """The router of an optional module (`setup_router()` or `setup_routers()`), or None when absent."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    factory = getattr(module, "setup_router", None) or getattr(module, "setup_routers", None)
    if factory is None:
        log.warning("%s has no setup_router(); not included", module_name)
        return None
    return factory()


def setup_routers() -> Router:
    from handlers import admin, common, customer, tickets

    root = Router(name="root")
    root.include_router(admin.setup_router())
    root.include_router(tickets.setup_router())
    manager = _optional_router("handlers.manager")  # campaign review (/queue, /console): the console engineer's
    if manager is not None:
        root.include_router(manager)
    root.include_router(customer.setup_router())
    root.include_router(common.setup_router())
    return root
