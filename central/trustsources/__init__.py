"""Trust-list sources: signed lists of DCC document signers (DSCs) fetched from their publishers.

The EU gateway and national verifier backends publish the DSCs every verifier needs; a province should not copy
them by hand. A source is a name, a URL, a format and a pinned anchor: the list is verified against the anchor
before any of it is used, and a source's entries are replaced whole by its next verified list (docs/trust-list.md,
"Sources").

- `tables`: the `trust_sources` table.
- `anchor`: reading the pinned anchor (a P-256 public key, or CSCA certificates for the gateway's array).
- `signedlist`: splitting and verifying a signed list (signature line, then JSON).
- `dsc`: turning the publisher's DSC entries into this project's trust-list entries, with their checks.
- `download`: fetching a list over HTTPS with timeouts and a size limit.
- `store`: the sources in the database, and replacing a source's entries in one transaction.
"""
