"""Outputs a guard or a turnstile reacts to: lights, buzzer, relay; and the console for the demo and logs."""

from kiosk.hardware.feedback import ConsoleFeedback, Feedback, FeedbackFanout

__all__ = ["ConsoleFeedback", "Feedback", "FeedbackFanout"]
