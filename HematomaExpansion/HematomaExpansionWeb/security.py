"""Who may reach the server: 127.0.0.1 only by default, an access token for any other ``--host``.

As Jupyter does, the token is random (or given), printed in the page's address (``?token=...``) at
start; the first request that carries it gets an HttpOnly, SameSite=Strict cookie, so that the
page's scripts, images and its websocket are accepted afterwards. Every other request (page, files,
websocket) is answered with HTTP 403. A websocket whose Origin is another site is refused too, so a
web page elsewhere cannot drive a server on this machine.
"""

from __future__ import annotations

import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from HematomaExpansionLib.common.errors import InputError

from . import page_ids

DEFAULT_HOST = "127.0.0.1"
TOKEN_QUERY = "token"
TOKEN_COOKIE = "hematoma_expansion_token"
TOKEN_BYTES = 32

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def access_token(host: str, token: str | None) -> str | None:
    """The token to require: the given one, a random one for any host but 127.0.0.1, else None."""
    if token is not None:
        if len(token) < 16:
            raise InputError("--token must be at least 16 characters long; omit it for a random one.")
        return token
    return None if host == DEFAULT_HOST else secrets.token_urlsafe(TOKEN_BYTES)


def page_url(host: str, port: int, token: str | None) -> str:
    """The address to open, with the token as Jupyter prints it."""
    shown = f"[{host}]" if ":" in host else host
    query = f"?{TOKEN_QUERY}={token}" if token else ""
    return f"http://{shown}:{port}/index.html{query}"


REFUSED_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Access refused</title></head>'
    f'<body><main id="{page_ids.TOKEN_REFUSED_PAGE}"><h1>403: access refused</h1>'
    "<p>{reason}</p></main></body></html>"
)


@dataclass(frozen=True)
class AccessRule:
    """The access check of every HTTP request and websocket."""

    token: str | None

    def _has_token(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.query.get(TOKEN_QUERY) or request.cookies.get(TOKEN_COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def _cross_site_websocket(request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if request.headers.get("Upgrade", "").lower() != "websocket" or not origin:
            return False
        return urlsplit(origin).netloc != request.host

    def refusal(self, request: web.Request) -> str | None:
        """Why the request is refused, or None."""
        if self._cross_site_websocket(request):
            return "This server accepts websockets from its own page only."
        if not self._has_token(request):
            return "This server needs its access token: open the address it printed at start (…?token=…)."
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """aiohttp middleware: 403 with :data:`REFUSED_PAGE`, else the handler (and the token cookie)."""
        reason = self.refusal(request)
        if reason is not None:
            return web.Response(
                status=403, text=REFUSED_PAGE.format(reason=html.escape(reason)), content_type="text/html"
            )
        response = await handler(request)
        if self.token is not None and TOKEN_QUERY in request.query and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
        return response
