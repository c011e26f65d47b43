"""The status page's token: required off loopback, accepted as a bearer header or a query parameter."""

from __future__ import annotations

import hmac


def token_matches(token: str, header: str, query_token: str) -> bool:
    """No token configured (loopback only), or the right one in the header or the query (constant time, both
    compared whatever the first gave, so the time does not say which was tried)."""
    expected = token.encode()
    if not expected:
        return True
    bearer = header[7:] if header.startswith("Bearer ") else ""
    by_header = hmac.compare_digest(bearer.encode(), expected)
    by_query = hmac.compare_digest(query_token.encode(), expected)
    return by_header | by_query
