"""Scanner modules beside the camera: a keyboard-wedge scanner (evdev) or a serial one (pyserial), each in a
thread of its own that hands whole codes, or the reason one was refused, to the loop."""

from kiosk.scanner.framing import Framer, Scan
from kiosk.scanner.reader import ScannerStats, ScannerThread, ScanSink

__all__ = ["Framer", "Scan", "ScanSink", "ScannerStats", "ScannerThread"]
