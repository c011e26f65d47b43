"""Configuration: one TOML file, validated by pydantic models (`model`: the kiosk; `outputs`: lights, buzzer,
relay, voice, screen, Wiegand, webhook; `section`: their common base); `errors` turns pydantic's errors into
messages a technician can act on."""

from kiosk.config.model import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_STATE_DIR,
    CameraConfig,
    DecodeConfig,
    KioskConfig,
    PolicyConfig,
    RegionOfInterest,
    StatusPageConfig,
    VenueConfig,
    load_config,
    parse_config,
    resolve_config_path,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_STATE_DIR",
    "CameraConfig",
    "DecodeConfig",
    "KioskConfig",
    "PolicyConfig",
    "RegionOfInterest",
    "StatusPageConfig",
    "VenueConfig",
    "load_config",
    "parse_config",
    "resolve_config_path",
]
