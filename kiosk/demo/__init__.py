"""The demo: the real loop on bundled media, mock GPIO, a temporary store."""
