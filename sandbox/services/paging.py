"""Opaque page tokens: an offset bound to the query it belongs to, so a token cannot be reused elsewhere."""

from __future__ import annotations

import base64
import binascii
import json


class PageTokenError(ValueError):
    pass


def encode_page_token(query: str, offset: int) -> str:
    raw = json.dumps({"q": query, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, query: str) -> int:
    """The offset in ``token``; raises PageTokenError if it is malformed or was issued for another query."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, issued_for = payload["o"], payload["q"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise PageTokenError("page_token is malformed") from exc
    if issued_for != query:
        raise PageTokenError("page_token was issued for a different query")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise PageTokenError("page_token is malformed")
    return offset
