"""aiogram routers: each module's handlers are module-level functions, registered by its
`setup_router()` on a new `Router` (no module-level state; dependencies come as workflow data).

`setup_routers()` returns the root router in this order: admin (documents from admins), tickets
(the manager's replies to handoffs), manager (campaign review), customer, and common (odd input)
last.
"""

from __future__ import annotations

from aiogram import Router


def setup_routers() -> Router:
    from handlers import admin, common, customer, manager, tickets

    root = Router(name="root")
    root.include_router(admin.setup_router())
    root.include_router(tickets.setup_router())
    root.include_router(manager.setup_router())  # campaign review: /queue, /console
    root.include_router(customer.setup_router())
    root.include_router(common.setup_router())
    return root
