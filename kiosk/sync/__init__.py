"""Sync with the central server (docs/sync-protocol.md): enrolment, upload exactly once, config, heartbeat.

Runs in its own thread with its own database connection; nothing here ever blocks the frame loop.
"""
