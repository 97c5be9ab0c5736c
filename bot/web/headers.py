"""Security headers on every response (plain ASGI, like `BodyLimit`).

- Content-Security-Policy: scripts, styles, images and requests from the console's own origin
  only; no inline script (the pages keep data in `data-*` attributes and code in /static), no
  plugins, no <base> or off-site form targets. `frame-ancestors` lets only Telegram's web clients
  frame the console (it opens there as a Mini App); every other site is refused.
- X-Content-Type-Options: nosniff; Referrer-Policy: no-referrer (a one-time link never leaves in
  a Referer); Cache-Control: no-store on everything but /static (pages and API answers carry
  clients' data).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TELEGRAM_WEB_CLIENTS = "https://web.telegram.org https://*.telegram.org"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       f"form-action 'self'; frame-ancestors 'self' {TELEGRAM_WEB_CLIENTS}")
HEADERS = [
    (b"content-security-policy", CSP.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = HEADERS if scope["path"].startswith("/static/") else [*HEADERS, NO_STORE]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)
