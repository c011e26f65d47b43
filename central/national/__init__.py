"""The national tier (issue 18): province centres publish, the national centre subscribes, with PostgreSQL's
built-in logical replication; the national centre traces across provinces.

- `publication`: what a province sends (events as subject keys and derived fields, ACCEPTed passages only; the
  venues and the unit tree) and the SQL that sets it up (`kiosk-central national publish`).
- `subscription`: on the national cluster, one database per province (`<national>_p67`), migrated with the same
  migrations as the province, subscribing to it (`kiosk-central national subscribe --province 67`).
- `tracing`: the unchanged `central.tracing.trace` run on each province's copy, merged; `tree`: the provinces'
  unit trees joined under the national root.

Why a database per province rather than shared tables: PostgreSQL 15 applies a change to the table of the same
schema-qualified name, and every province numbers its units and venues from 1. A copy per province keeps the
province's keys and constraints as they are (updates and deletes of venues and units apply by primary key), and
the province's own code (tracing, the tree) runs on it unchanged; a venue is in one province, so whom a person
met at a venue is found in that venue's province alone. Province-qualified keys appear only in what the national
tier answers ("67", venue "V1").
"""
