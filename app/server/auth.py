"""The token check in front of the whole server (API and app), as ASGI middleware.

A request passes with the configured `api_token`, or with the server's local token (from its
0600 server file: the same user's CLI, which may index any path). The token may come as
`Authorization: Bearer …`, an `X-Mmsearch-Token` header, a `token` query parameter (the app's
first page; a cookie then carries it for the page's other requests and its websocket) or that cookie.
With no `api_token` set (loopback only), requests without a token pass as non-local.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

COOKIE = "mmsearch_token"
LOCAL = "mmsearch.local"  # scope key: True for the local token


def _same(a: str, b: str | None) -> bool:
    return bool(b) and hmac.compare_digest(a.encode(), b.encode())  # type: ignore[union-attr]


class TokenMiddleware:
    """Lets a request through when it carries a valid token (or when none is required)."""

    def __init__(self, app: Any, api_token: str | None, local_token: str) -> None:
        self.app = app
        self.api_token = api_token
        self.local_token = local_token

    def offered(self, scope: dict[str, Any]) -> tuple[list[str], bool]:
        """The tokens a request offers, and whether one came in the query string."""
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        found = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            found.append(auth[7:].strip())
        if "x-mmsearch-token" in headers:
            found.append(headers["x-mmsearch-token"].strip())
        query = parse_qs(scope.get("query_string", b"").decode())
        from_query = bool(query.get("token"))
        found += query.get("token", [])
        if "cookie" in headers:
            morsel = SimpleCookie(headers["cookie"]).get(COOKIE)
            if morsel is not None:
                found.append(morsel.value)
        return found, from_query

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        tokens, from_query = self.offered(scope)
        local = any(_same(self.local_token, t) for t in tokens)
        ok = local or not self.api_token or any(_same(self.api_token, t) for t in tokens)
        if not ok:
            return await self.refuse(scope, receive, send)
        scope[LOCAL] = local
        if not (from_query and scope["type"] == "http"):
            return await self.app(scope, receive, send)
        token = next(t for t in reversed(tokens) if _same(self.local_token, t) or _same(self.api_token or "", t))

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        api = scope.get("path", "").startswith("/api")
        body = (
            b'{"detail": "this server needs a token: send Authorization: Bearer TOKEN"}' if api
            else b"This mmsearch server needs a token: open it as http://HOST:PORT/?token=TOKEN"
        )
        ctype = b"application/json" if api else b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", ctype), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
