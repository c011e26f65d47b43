"""The configuration in effect: the file's, with what the centre gave at enrolment (the device id and venue) and
the venue policy it sent since, laid over it."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from kiosk.config import KioskConfig, PolicyConfig
from kiosk.config.outputs import FeedbackConfig
from kiosk.sync.configsync import load_policy_overrides
from kiosk.sync.identity import Enrolment, load_enrolment

log = logging.getLogger(__name__)


def with_enrolment(config: KioskConfig) -> tuple[KioskConfig, Enrolment | None]:
    """`config` with the device id and venue the centre gave at enrolment, if enrolled."""
    enrolment = load_enrolment(config.state_dir)
    if enrolment is None:
        return config, None
    device = config.device.model_copy(update={"id": enrolment.device_id, "venue": enrolment.venue})
    return config.model_copy(update={"device": device}), enrolment


# The gate rules the centre sets that are not the policy's: they shape the outputs, which are built once, so they
# take effect when the kiosk next starts (the policy's own take effect at the pull).
FEEDBACK_RULES = ("relay_hold_s", "language")


def with_central_policy(config: KioskConfig) -> KioskConfig:
    """`config` with the venue's gate rules the centre sent laid over the file's (unusable ones are ignored)."""
    overrides = load_policy_overrides(config.state_dir)
    policy = policy_with(config.policy, overrides)
    feedback = feedback_with(config.feedback, overrides)
    if policy is config.policy and feedback is config.feedback:
        return config
    return config.model_copy(update={"policy": policy, "feedback": feedback})


def feedback_with(base: FeedbackConfig, overrides: dict[str, Any]) -> FeedbackConfig:
    """The outputs' settings with the centre's relay time and language laid over them; `base` if unusable."""
    wanted = {key: overrides[key] for key in FEEDBACK_RULES if key in overrides}
    if not wanted:
        return base
    data = base.model_dump()
    if "language" in wanted:
        data["language"] = wanted["language"]
    if "relay_hold_s" in wanted:
        data["gpio"] = {**data["gpio"], "relay_hold_s": wanted["relay_hold_s"]}
    try:
        return FeedbackConfig.model_validate(data)
    except ValidationError as exc:
        log.error("the centre's relay time or language is not usable (%s); keeping the config file's", _first(exc))
        return base


def policy_with(base: PolicyConfig, overrides: dict[str, Any]) -> PolicyConfig:
    """The config file's policy `base` with the centre's settings laid over it; `base` if they are unusable."""
    own = {key: value for key, value in overrides.items() if key not in FEEDBACK_RULES}
    if not own:
        return base
    try:
        return PolicyConfig.model_validate({**base.model_dump(), **own})
    except ValidationError as exc:
        log.error("the centre's venue policy is not usable (%s); keeping the config file's", _first(exc))
        return base


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
