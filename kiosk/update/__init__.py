"""Signed updates pulled by the kiosk (docs/updates.md): the release manifest and its signature (pure, shared with
the centre), and the kiosk's updater: fetch, verify, install beside the running release, switch, and roll back by
itself when the new release does not prove healthy."""
