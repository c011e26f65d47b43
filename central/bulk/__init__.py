"""Bulk set-up (docs/rollout.md, section 1): a province's unit tree and venues from CSV files, and enrolment codes
for a district's venues printed as one sheet for the technicians.

- `cells`: what a code, a name or an address in these files may be, with the problem each wrong one gives.
- `units`: units.csv (code, name, parent), any depth, order-free, safe to re-run.
- `venues`: venues.csv (code, name, unit, category, address), safe to re-run.
- `sheet`: one-time enrolment codes for the venues of a unit, in one transaction, and the printable page.
"""
