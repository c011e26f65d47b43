"""Signed releases of the kiosk software, held at the centre and offered to the kiosks a rollout names
(docs/updates.md, "At the centre"). The centre checks a release's signature too, but a kiosk trusts only its own
copy of the release key: the centre picks who is offered what, never what a kiosk will install.

- `tables`: the `releases` table (migration 0014): each release, and the state of its rollout.
- `store`: adding a release: verified with the centre's copy of the public key, its bundle kept on disk.
- `rollout`: starting, pausing, resuming and stopping the one active rollout; who is in its cohort.
- `offer`: the `update` field of a device's config document.
- `report`: the releases with their rollouts and what the kiosks' heartbeats say about them.
- `routes`: `GET /api/v1/releases/{version}/bundle`.
"""
