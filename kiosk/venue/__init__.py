"""The venue's gates together (docs/venue-state.md): passages shared through the centre and on the gate's network,
signed with the device keys the centre vouches for, and single-use passes claimed across gates."""
