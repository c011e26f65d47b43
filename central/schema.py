"""The central database's tables (SQLAlchemy Core). Changed only together with a migration in migrations/.

Events are designed for scale: on PostgreSQL `events` is partitioned by the day the server received them, so
retention is a partition drop; `event_keys` (one narrow row per event, not partitioned) is the exactly-once claim
that holds across partitions, so a batch re-sent on another day is still recognised.

Both keys include the venue (migration 0016), as Citus needs of a table distributed by venue (docs/scale.md,
central/distribution.py); the event id leads them, so that a look-up by id alone (the feed, ingest's check that
no other venue holds the id: central/ingest.py) still reads one index range.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()
TZ = DateTime(timezone=True)

units = Table(
    "units",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("parent_id", Integer, ForeignKey("units.id"), nullable=True, index=True),
    Column("created_at", TZ, nullable=False),
)

venues = Table(
    "venues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=False, index=True),
    Column("category", String(32), nullable=False),
    Column("policy", JSON, nullable=True),  # overrides of the kiosk policy for this venue (mode, rules)
    Column("created_at", TZ, nullable=False),
    Column("address", Text, nullable=True),  # where the venue is (venues.csv, the enrolment sheet): a place's
    Column("retired_at", TZ, nullable=True),  # closed (migration 0012, central/venues/): kept, its kiosks revoked
    Column("folded", Text, nullable=True),  # code and name without diacritics, lower case, for search; NULL: not yet
    Column("folded_from", Text, nullable=True),  # the name `folded` was made from: another means it is stale
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False, index=True),
    Column("name", Text, nullable=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("enrolled_at", TZ, nullable=False),
    Column("revoked_at", TZ, nullable=True),
    Column("last_seen_at", TZ, nullable=True),
    Column("last_heartbeat", JSON, nullable=True),
    Column("clock_offset_s", Float, nullable=True),
)

enroll_codes = Table(
    "enroll_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("used_at", TZ, nullable=True),
    Column("device_id", String(64), nullable=True),
)

auth_nonces = Table(
    "auth_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("used_at", TZ, nullable=True),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False, index=True),
    Column("expires_at", TZ, nullable=False),
)

event_keys = Table(
    "event_keys",
    metadata,
    Column("event_id", String(36), nullable=False),
    Column("venue_id", Integer, nullable=False),  # the venue that claimed it; 0: a claim 0016 found no event for
    Column("received_day", Date, nullable=False, index=True),
    PrimaryKeyConstraint("event_id", "venue_id", name="event_keys_pkey"),
)

PRESENCE = "decision = 'ACCEPT' AND subject_key IS NOT NULL"  # events_venue_presence's rows: a person's passages

events = Table(
    "events",
    metadata,
    Column("event_id", String(36), nullable=False),
    Column("received_day", Date, nullable=False),
    Column("device_id", String(64), nullable=True),
    Column("venue_id", Integer, nullable=False),
    Column("boot_id", String(64), nullable=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=True),  # SQLite INTEGER is 64-bit
    Column("wall_time", Float, nullable=True),
    Column("mono_time", Float, nullable=True),
    Column("time", TZ, nullable=False),  # corrected time
    Column("time_synced", Boolean, nullable=False),
    Column("received_at", TZ, nullable=False),
    Column("direction", String(3), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject_key", String(32), nullable=True),
    Column("decision", String(6), nullable=False),
    Column("reason", String(48), nullable=False),
    Column("decoder", String(16), nullable=True),
    Column("latency_ms", Float, nullable=True),
    PrimaryKeyConstraint("event_id", "venue_id", "received_day", name="events_pkey"),
    Index("events_subject_time", "subject_key", "time"),
    Index("events_venue_time", "venue_id", "time"),
    # What a trace reads of everyone at a venue (central/tracevisits.py): on PostgreSQL an index-only scan
    # (migration 0017). events_venue_time stays: other reads by venue are not only ACCEPTs.
    Index(
        "events_venue_presence",
        "venue_id",
        "time",
        postgresql_include=["subject_key", "direction", "received_day"],
        postgresql_where=text(PRESENCE),
        sqlite_where=text(PRESENCE),
    ),
    postgresql_partition_by="RANGE (received_day)",
)

status_entries = Table(
    "status_entries",
    metadata,
    Column("subject_key", String(32), primary_key=True),
    Column("status", String(6), nullable=False),
    Column("until", TZ, nullable=True),
    Column("updated_at", TZ, nullable=False),
    Column("version", BigInteger, nullable=False, server_default="0"),  # the list's version when last changed
    Column("cleared", Boolean, nullable=False, server_default=false()),  # a tombstone: kiosks must drop the key
    Index("status_entries_version", "version"),
)

trust_entries = Table(
    "trust_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("section", String(16), nullable=False),  # certificates, shc_issuers, csca, pass_keys
    Column("entry", JSON, nullable=False),  # as in docs/trust-list.md
    Column("added_at", TZ, nullable=False),
    Column("source", String(64), nullable=True),  # the trust source it was fetched from; NULL: imported by hand
    Index("trust_entries_source", "source"),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The centre's web side (migration 0003): staff accounts and sessions, the audit log, health declarations, and
# the per-venue daily rollup the deployment dashboard reads.

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters
    Column("role", String(16), nullable=False),  # administrator, unit_officer, tracer, venue_admin
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=True),  # sees this unit and below (None: all)
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=True),  # a venue admin's venue
    Column("created_at", TZ, nullable=False),
    Column("disabled_at", TZ, nullable=True),
    Column("last_login_at", TZ, nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie: a database dump logs no one in
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("last_seen_at", TZ, nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", TZ, nullable=False, index=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TZ, nullable=False, index=True),
    Column("actor", String(96), nullable=False),  # an account's username, or "cli:<system user>"
    Column("action", String(32), nullable=False),  # trace, status-set, status-clear, account-add, ...
    Column("subject", String(64), nullable=True),  # whom: a subject key, an account, a venue
    Column("reason", Text, nullable=False),  # why, as the person gave it
    Column("detail", JSON, nullable=True),  # the window, the options, how much was found
    Column("address", String(64), nullable=True),  # the client's address for the web
    Index("audit_log_subject", "subject", "id"),  # a venue's history on its pages (migration 0012)
)

declarations = Table(
    "declarations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_key", String(32), nullable=False, index=True),  # never the ID number itself
    Column("declared_at", TZ, nullable=False),
    Column("expires_at", TZ, nullable=False),
    Column("status", String(6), nullable=False),  # green, yellow, red: what the pass says
    Column("answers", JSON, nullable=False),  # symptoms, exposure, travel
    Column("contact_sealed", LargeBinary, nullable=True),  # the phone, sealed to the health service's key
)

venue_days = Table(
    "venue_days",
    metadata,
    Column("venue_id", Integer, nullable=False),
    Column("day", Date, nullable=False),  # the local day (the centre's time zone)
    Column("scans", Integer, nullable=False, server_default="0"),
    Column("accepted", Integer, nullable=False, server_default="0"),
    Column("heard", Boolean, nullable=False, server_default=false()),  # a device of the venue spoke that day
    PrimaryKeyConstraint("venue_id", "day"),
    Index("venue_days_day", "day"),
)

# Access lists (migration 0005, docs/access-list.md): the groups and people of each venue in access mode. Every
# key starts with the venue, so the tables can be distributed by venue; the list's version is one row per venue,
# bumped in the transaction of every change, so that a kiosk's ETag is checked without reading the people.

access_versions = Table(
    "access_versions",
    metadata,
    Column("venue_id", Integer, ForeignKey("venues.id"), primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("changed_at", TZ, nullable=False),
)

access_groups = Table(
    "access_groups",
    metadata,
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False),
    Column("id", Integer, nullable=False, autoincrement=False),  # numbered per venue: what the list's people name
    Column("name", String(64), nullable=False),
    Column("windows", JSON, nullable=False),  # [{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}], local time
    Column("valid_from", Date, nullable=True),  # local dates, inclusive
    Column("valid_until", Date, nullable=True),
    Column("gates", JSON, nullable=True),  # device ids; null: every gate of the venue
    Column("updated_at", TZ, nullable=False),
    PrimaryKeyConstraint("venue_id", "id"),
    UniqueConstraint("venue_id", "name", name="access_groups_venue_name"),
)

access_people = Table(
    "access_people",
    metadata,
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False),
    Column("subject_key", String(32), nullable=False),  # never the ID number itself
    Column("name_sealed", LargeBinary, nullable=True),  # sealed to the health service's key, or not kept
    Column("updated_at", TZ, nullable=False),
    Column("badge", String(20), nullable=True),  # the card number the venue's access panel knows them by
    PrimaryKeyConstraint("venue_id", "subject_key"),
    Index("access_people_badge", "venue_id", "badge", unique=True),
)

access_members = Table(
    "access_members",
    metadata,
    Column("venue_id", Integer, nullable=False),
    Column("subject_key", String(32), nullable=False),
    Column("group_id", Integer, nullable=False),
    PrimaryKeyConstraint("venue_id", "subject_key", "group_id"),
    ForeignKeyConstraint(
        ["venue_id", "subject_key"],
        ["access_people.venue_id", "access_people.subject_key"],
        name="access_members_person",
    ),
    ForeignKeyConstraint(
        ["venue_id", "group_id"], ["access_groups.venue_id", "access_groups.id"], name="access_members_group"
    ),
)

# Access passes the centre issued (migration 0006, docs/pass-format.md): kept to revoke them and to find a
# single-use pass let in twice. `recorded_as` is the subject key the gates record for the pass: its id for a
# single-use or unnamed pass, else its holder's key.
access_passes = Table(
    "access_passes",
    metadata,
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False),
    Column("pass_id", String(32), nullable=False),
    Column("type", String(8), nullable=False),
    Column("holder", String(32), nullable=True),
    Column("recorded_as", String(32), nullable=False),
    Column("single_use", Boolean, nullable=False),
    Column("valid_from", TZ, nullable=False),
    Column("valid_until", TZ, nullable=False),
    Column("issued_at", TZ, nullable=False),
    Column("revoked_at", TZ, nullable=True),
    PrimaryKeyConstraint("venue_id", "pass_id"),
    Index("access_passes_id", "pass_id"),
    Index("access_passes_recorded", "venue_id", "recorded_as"),
)

# Visits (migration 0007, docs/access-list.md): a visitor the guard let in at a gate of a venue in access mode, whom
# they visit and why, as the kiosk uploads it. Keyed by venue first, like the access tables; no key to `events`
# (partitioned, and a visit may come before its event). A visit closes when its subject key leaves the venue
# (central/visits.py): nothing here changes when it does.
visits = Table(
    "visits",
    metadata,
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False),
    Column("visit_id", String(36), nullable=False),  # a UUID made by the kiosk
    Column("event_id", String(36), nullable=False),  # its "visit-opened" event
    Column("device_id", String(64), nullable=False),
    Column("subject_key", String(32), nullable=False),  # never the ID number itself
    Column("host", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("id_tail", String(4), nullable=True),  # the ID number's last 4 digits, for the roll call
    Column("opened_at", TZ, nullable=False),  # its event's corrected time, else the kiosk's wall time
    Column("received_at", TZ, nullable=False),
    PrimaryKeyConstraint("venue_id", "visit_id"),
    Index("visits_venue_opened", "venue_id", "opened_at"),
)

# Single-use claims (migration 0008, docs/venue-state.md): which gate of a venue claimed the first entry on a
# single-use pass. The key is (venue, subject key), so of two gates asking at once only one is first.
single_use_claims = Table(
    "single_use_claims",
    metadata,
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=False),
    Column("subject_key", String(32), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("claimed_at", TZ, nullable=False),
    PrimaryKeyConstraint("venue_id", "subject_key"),
    Index("single_use_claims_at", "claimed_at"),
)
