"""QR decoders behind one interface, and the chain that runs them within a per-frame time budget."""

from kiosk.decode.base import Box, Code, Decoder, Reading
from kiosk.decode.chain import DecoderChain

__all__ = ["Box", "Code", "Decoder", "DecoderChain", "Reading"]
