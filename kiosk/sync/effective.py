"""The configuration in effect: the file's, with what the centre gave at enrolment (the device id and venue) and
the venue policy it sent since, laid over it."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from kiosk.config import KioskConfig, PolicyConfig
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


def with_central_policy(config: KioskConfig) -> KioskConfig:
    """`config` with the venue policy the centre sent laid over the file's (an unusable one is ignored)."""
    policy = policy_with(config.policy, load_policy_overrides(config.state_dir))
    return config if policy is config.policy else config.model_copy(update={"policy": policy})


def policy_with(base: PolicyConfig, overrides: dict[str, Any]) -> PolicyConfig:
    """The config file's policy `base` with the centre's settings laid over it; `base` if they are unusable."""
    if not overrides:
        return base
    try:
        return PolicyConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        log.error("the centre's venue policy is not usable (%s); keeping the config file's", exc.errors()[0]["msg"])
        return base
