"""Passages out of the centre for pull consumers: `GET /api/v1/events?after=<cursor>` (docs/feeds.md).

- `log`: the ingest-ordered record of stored events (`event_feed`) that the feed pages and the webhooks' outbox
  point into;
- `scope`: what a token or an endpoint covers (a unit's subtree or one venue);
- `payload`: what leaves the centre about an event (no identity, only subject keys and derived fields);
- `cursor`, `page`: keyset pages in ingest order, resumable from an opaque cursor;
- `clients`: per-client tokens (shown once, stored hashed); `routes`: the HTTP route.
"""
