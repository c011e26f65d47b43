"""Signed outgoing webhooks (docs/feeds.md): each endpoint gets the events of its unit subtree or venue, POSTed
in batches as JSON, signed with its own secret, at least once, retried with backoff per endpoint.

- `tables`: the tables (migration 0009); `endpoints`: adding, listing, removing, URL checks;
- `outbox`: rows written by ingest in the transaction that stores the events (the row exists iff the event does);
- `signing`: the signature headers and how a receiver checks them;
- `delivery`: claiming a due endpoint, its batch, the POST, the backoff; the worker thread.
"""
