"""Configuration: one TOML file, validated by pydantic models that forbid unknown keys.

Every field has a default, bounds and a description; `config/kiosk.example.toml` documents them all. A bad file
is reported as one `ConfigProblem` per mistake, each with its key path and, where it can be found, its line.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from kiosk.config.errors import ConfigError, ConfigProblem, problems_from_validation
from kiosk.config.outputs import FeedbackConfig
from kiosk.config.readers import ScannerConfig
from kiosk.config.section import Section

DEFAULT_CONFIG_PATH = Path("/etc/kiosk/kiosk.toml")
DEFAULT_STATE_DIR = Path("/var/lib/kiosk")

SubjectKey = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="subject key: 32 lower-case hex")]
DecoderName = Literal["zxing", "pyzbar", "opencv"]
_MIN_VIEW = 64  # pixels: the smallest region in which a phone's QR code can still be read


class DeviceConfig(Section):
    id: str = Field("unenrolled", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Device id (set by enrolment).")
    venue: str = Field("UNASSIGNED", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Venue code of this gate.")
    direction: Literal["in", "out"] = Field("in", description="Direction of passage this gate records.")


class CameraConfig(Section):
    source: str = Field(
        "picamera2",
        min_length=1,
        description="picamera2, a device index or /dev/videoN, an rtsp:// URL, a video file, an image folder, or"
        " none (codes come from scanners only).",
    )
    width: int = Field(640, ge=160, le=3840, description="Frame width in pixels (picamera2: the lores stream).")
    height: int = Field(480, ge=120, le=2160, description="Frame height in pixels.")
    fps: float = Field(15.0, gt=0, le=120, description="Frames per second asked of the camera, or replayed.")
    loop: bool = Field(False, description="Replay sources: start again at the end.")
    realtime: bool = Field(
        True,
        description="Replay sources: pace at fps and drop frames the loop cannot take (as a camera does).",
    )
    reopen_s: float = Field(2.0, ge=0.1, le=60, description="Wait before reopening a camera that failed.")
    stall_s: float = Field(5.0, ge=1, le=300, description="No frame for this long: signal a camera fault.")

    @field_validator("source", mode="before")
    @classmethod
    def _device_index(cls, value: object) -> object:
        """`source = 0`, as written for a USB camera's index, means the same as `source = "0"`."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        return value


class RegionOfInterest(Section):
    x: float = Field(0.0, ge=0, lt=1, description="Left edge, as a fraction of the frame width.")
    y: float = Field(0.0, ge=0, lt=1, description="Top edge, as a fraction of the frame height.")
    width: float = Field(1.0, gt=0, le=1, description="Width, as a fraction of the frame width.")
    height: float = Field(1.0, gt=0, le=1, description="Height, as a fraction of the frame height.")

    @model_validator(mode="after")
    def _inside_frame(self) -> RegionOfInterest:
        if self.x + self.width > 1 or self.y + self.height > 1:
            raise ValueError("region reaches outside the frame: x + width and y + height must be <= 1")
        return self


class DecodeConfig(Section):
    decoders: list[DecoderName] = Field(
        ["zxing", "pyzbar"], min_length=1, description="Decoder chain; the first runs on every frame."
    )
    roi: RegionOfInterest | None = Field(None, description="Only decode this part of the frame.")
    downscale: float = Field(1.0, ge=0.1, le=1, description="Shrink frames by this factor before decoding.")
    retry: bool = Field(True, description="Second attempt when a code is likely present but was not read.")
    budget_ms: float = Field(15.0, ge=0, le=500, description="Time allowed for second attempts per frame.")

    @field_validator("decoders")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a decoder is listed twice")
        return value


class DebounceConfig(Section):
    cooldown_s: float = Field(3.0, ge=0, le=3600, description="Ignore the same code for this long after acting.")
    until_absent: bool = Field(
        True, description="Also wait until the code has left the view: a card left on the reader is one passage."
    )
    absent_s: float = Field(1.0, gt=0, le=60, description="Unseen this long counts as having left the view.")
    confirm_frames: int = Field(1, ge=1, le=30, description="Consecutive frames a code must be seen in.")


class PolicyConfig(Section):
    mode: Literal["log-only", "identity", "certificate", "pass", "access"] = Field(
        "log-only", description="log-only, identity, certificate, pass or access (see config/kiosk.example.toml)."
    )
    strangers: Literal["deny", "review", "visitor"] = Field(
        "deny", description="Access mode: refuse a person not enrolled, call the guard, or start a visit."
    )
    single_use_offline: Literal["accept", "review"] = Field(
        "accept",
        description="A single-use pass neither the centre nor the other gates could confirm: let in (a second use"
        " elsewhere is flagged at the centre) or call the guard.",
    )
    visit_hosts: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        [], max_length=50, description="Visitor desk: whom a visitor may visit (people or departments)."
    )
    visit_purposes: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        ["Họp / Meeting", "Giao hàng / Delivery", "Sửa chữa / Repair", "Phỏng vấn / Interview", "Khác / Other"],
        max_length=50,
        description="Visitor desk: the purposes the guard picks from.",
    )
    access_list: Path | None = Field(
        None, strict=False, description="Enrolled people and groups (default <state_dir>/access-list.json)."
    )
    denylist: list[SubjectKey] = Field([], description="Subject keys that are always refused.")
    trust_list: Path | None = Field(
        None, strict=False, description="Trusted keys (default <state_dir>/trust-list.json)."
    )
    status_list: Path | None = Field(
        None, strict=False, description="Flagged subject keys (default <state_dir>/status-list.json)."
    )
    trust_list_warn_h: float = Field(24, ge=0, description="Warn when the trust list is older than this (hours).")
    trust_list_max_h: float = Field(
        168, ge=0, description="Refuse signed credentials when the trust list is older than this; 0: never."
    )
    vaccination_wait_days: float = Field(14, ge=0, le=365, description="Days after the last dose before it counts.")
    test_max_age_h: float = Field(72, gt=0, le=720, description="Hours a negative test counts after the sample.")
    recovery_max_days: float = Field(180, gt=0, le=3650, description="Days recovery counts, when undated.")
    anti_passback_s: float = Field(
        0, ge=0, le=86400, description="Refuse a second passage in the same direction within this; 0: off."
    )


class IdentityConfig(Section):
    secret_file: Path | None = Field(
        None, strict=False, description="HMAC secret for subject keys (default: <state_dir>/subject-key.secret)."
    )


class SyncConfig(Section):
    enabled: bool = Field(True, description="Upload to the central server once enrolled (kiosk enroll).")
    ca_bundle: Path | None = Field(
        None, strict=False, description="CA certificates to check the server with (default: the system's)."
    )
    batch: int = Field(500, ge=1, le=500, description="Events per upload.")
    poll_s: float = Field(2.0, ge=0.1, le=60, description="Look for events to upload this often when idle.")
    heartbeat_s: float = Field(60, ge=5, le=3600, description="Send a heartbeat this often.")
    config_s: float = Field(300, ge=10, le=86400, description="Ask for new lists and policy this often.")


class VenueConfig(Section):
    enabled: bool = Field(
        True, description="Share passages with the venue's other gates, through the centre and on the network."
    )
    host: str = Field("0.0.0.0", description="Address the peer server listens on (requests are signed).")  # noqa: S104
    port: int = Field(8766, ge=0, le=65535, description="Port of the peer server (0: any free one).")
    peers: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]{1,100}:[0-9]{1,5}$")]] = Field(
        [], max_length=32, description="host:port of other gates, where multicast (mDNS) does not pass."
    )
    mdns: bool = Field(True, description="Announce this gate and find the others by mDNS on the local network.")
    pull_s: float = Field(5.0, ge=0.5, le=600, description="Ask the centre for the other gates' passages this often.")
    claim_timeout_ms: float = Field(
        300, ge=50, le=2000, description="Wait at most this for the centre, then for the peers, on a single-use pass."
    )


class UpdatesConfig(Section):
    enabled: bool = Field(True, description="Take the signed releases the centre offers (docs/updates.md).")
    public_key: Path = Field(
        Path("/etc/kiosk/release-key.pub"), strict=False, description="The release key's public half (PEM)."
    )
    confirm_s: float = Field(
        120, ge=10, le=3600, description="A new release that has run this long is kept (else rolled back)."
    )


class StatusPageConfig(Section):
    enabled: bool = Field(True, description="Serve the technician's status page and /metrics.")
    host: str = Field("127.0.0.1", description="Address to listen on; anything but loopback needs a token.")
    port: int = Field(8081, ge=1, le=65535, description="Port to listen on.")
    token: str = Field("", description="Bearer token required when not on loopback (at least 16 characters).")

    @model_validator(mode="after")
    def _token_when_exposed(self) -> StatusPageConfig:
        if self.enabled and self.host not in ("127.0.0.1", "::1", "localhost") and len(self.token) < 16:
            raise ValueError("a status page reachable from the network needs a token of at least 16 characters")
        return self


class StoreConfig(Section):
    file: str = Field("events.db", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$", description="Database file in state_dir.")
    retention_days: int = Field(
        14, ge=1, le=3650, description="Delete events the centre holds once older than this many days."
    )


class LogConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


class KioskConfig(Section):
    state_dir: Path = Field(DEFAULT_STATE_DIR, strict=False, description="Where the database and keys live.")
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    scanners: list[ScannerConfig] = Field([], max_length=4, description="2-D scanner modules beside the camera.")
    debounce: DebounceConfig = Field(default_factory=DebounceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    status_page: StatusPageConfig = Field(default_factory=StatusPageConfig)
    venue: VenueConfig = Field(default_factory=VenueConfig)
    updates: UpdatesConfig = Field(default_factory=UpdatesConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="after")
    def _region_big_enough(self) -> KioskConfig:
        roi, scale = self.decode.roi, self.decode.downscale
        if roi is not None and min(roi.width * self.camera.width, roi.height * self.camera.height) * scale < _MIN_VIEW:
            raise ValueError(f"decode.roi with decode.downscale leaves under {_MIN_VIEW} pixels: no code fits")
        return self

    @model_validator(mode="after")
    def _something_reads(self) -> KioskConfig:
        if self.camera.source == "none" and not self.scanners:
            raise ValueError('camera.source = "none" needs a [[scanners]] entry: nothing would read codes')
        return self

    @property
    def database_path(self) -> Path:
        return self.state_dir / self.store.file

    @property
    def trust_list_path(self) -> Path:
        return self.policy.trust_list or self.state_dir / "trust-list.json"

    @property
    def status_list_path(self) -> Path:
        return self.policy.status_list or self.state_dir / "status-list.json"

    @property
    def access_list_path(self) -> Path:
        return self.policy.access_list or self.state_dir / "access-list.json"

    @property
    def secret_path(self) -> Path:
        return self.identity.secret_file or self.state_dir / "subject-key.secret"


def resolve_config_path(flag: str | None) -> tuple[Path, bool]:
    """The config path to use and whether the user named it (flag, then KIOSK_CONFIG, then the default)."""
    named = flag or os.environ.get("KIOSK_CONFIG")
    return (Path(named), True) if named else (DEFAULT_CONFIG_PATH, False)


def load_config(path: Path, *, required: bool = True) -> KioskConfig:
    """Read and validate `path`; a missing file gives the defaults unless `required`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError([ConfigProblem(str(path), None, "", "file not found")]) from None
        return KioskConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> KioskConfig:
    """Validate TOML text; raise `ConfigError` listing every problem."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"not valid TOML: {exc}")]) from None
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, text, source, KioskConfig)) from None
