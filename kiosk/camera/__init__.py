"""Frame sources (cameras and replays) and the capture thread that hands the newest frame to the loop."""

from kiosk.camera.base import Frame, FrameSource
from kiosk.camera.grabber import FrameGrabber, GrabberStats

__all__ = ["Frame", "FrameGrabber", "FrameSource", "GrabberStats"]
