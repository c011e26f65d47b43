"""Deciding: the venue's mode (`decide`), its rules for health certificates (`health`), the status list
(`statuslist`) and what the person at the gate is told for each reason (`messages`)."""

from kiosk.policy.decide import CERTIFICATES, Decision, Outcome, PassageHistory, Policy, VenuePolicy, log_only

__all__ = ["CERTIFICATES", "Decision", "Outcome", "PassageHistory", "Policy", "VenuePolicy", "log_only"]
