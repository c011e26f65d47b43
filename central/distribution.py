"""How each table of the central database would be laid out on a Citus cluster (docs/scale.md): distributed by
venue, a reference table copied to every node, or local to the coordinator. Nothing here runs: no Citus package
is installed. tests/test_distributable.py checks the schema against Citus's rules for this layout, so that a new
table must be placed, and a distributed one cannot grow a key that Citus would refuse. Every distributed table
passes since migration 0016 keyed `events` and `event_keys` by venue too.

Citus's rules, as checked:
- every primary key, unique constraint and unique index of a distributed table includes its distribution column;
- a foreign key from a distributed table goes to a reference table, or to a distributed table through the
  distribution column (the two are colocated: the same venue's rows are on the same node);
- a reference table has foreign keys only to reference tables.
"""

from __future__ import annotations

DISTRIBUTION_COLUMN = "venue_id"

# Large, written per venue, read per venue (or fanned out by subject key): hash-distributed by venue_id, all in
# one colocation group with `events`, so a venue's rows of every table are on one node.
DISTRIBUTED: dict[str, str] = {
    "events": "the passages: 30 million a day nationally, partitioned by day on each shard",
    "event_keys": "one row per event: the exactly-once claim, written in the same transaction as the event",
    "venue_days": "the dashboard's daily rollup per venue, updated by every ingest",
    "access_versions": "an access list's version, one row per venue",
    "access_groups": "an access list's groups, per venue",
    "access_people": "an access list's people, per venue",
    "access_members": "who belongs to which group, per venue",
    "access_passes": "passes issued for a venue",
    "visits": "visitors let in at a venue's gates",
    "single_use_claims": "which gate of a venue claimed a single-use pass",
}

# Small, read everywhere, joined with distributed tables on the workers (a trace names venues and units; the
# dashboard groups venue_days by unit): one copy on every node.
REFERENCE: dict[str, str] = {
    "units": "the unit tree: a few tens of thousands of rows nationally",
    "venues": "the venues: a few hundred thousand rows, changed by staff, joined with events and venue_days",
}

# The coordinator's own: accounts and sessions, device auth, lists and settings, the feed's order and the
# webhooks. None is joined with a distributed table on a worker. Foreign keys from them to reference tables are
# allowed once the coordinator is in Citus's metadata (they become "Citus local tables").
LOCAL: dict[str, str] = {
    "devices": "device auth and heartbeats: written on every call, read by id, so neither replicated nor sharded",
    "enroll_codes": "one-time enrolment codes, looked up by hash",
    "auth_nonces": "challenge nonces, looked up by nonce",
    "auth_tokens": "device tokens, looked up by hash",
    "status_entries": "the status list kiosks download, keyed by subject key and versioned as a whole",
    "trust_entries": "the trust list",
    "settings": "the centre's settings",
    "accounts": "staff accounts",
    "web_sessions": "staff sessions",
    "login_failures": "login rate limiting",
    "audit_log": "who traced whom and why: one log for the centre",
    "declarations": "health declarations, keyed by their own id and a subject key, not by venue",
    "event_feed": "the feed's global order: seq and the storing transaction's id are one node's (docs/feeds.md)",
    "webhook_endpoints": "webhook receivers",
    "webhook_outbox": "deliveries still owed, keyed by endpoint and feed seq",
    "feed_clients": "pull feed consumers",
    "releases": "kiosk releases and their rollout",
    "trust_sources": "where trust lists are fetched from",
    "diagnostics": "diagnostic requests to kiosks",
}


def placement(table: str) -> str:
    """'distributed', 'reference' or 'local'; KeyError for a table not placed yet."""
    for kind, tables in (("distributed", DISTRIBUTED), ("reference", REFERENCE), ("local", LOCAL)):
        if table in tables:
            return kind
    raise KeyError(table)
