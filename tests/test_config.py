from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from kiosk.config import KioskConfig, load_config, parse_config
from kiosk.config.errors import ConfigError, key_lines

EXAMPLE = Path(__file__).parent.parent / "config" / "kiosk.example.toml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="kiosk.toml")
    return [str(p) for p in caught.value.problems]


def test_empty_file_gives_the_defaults():
    assert parse_config("") == KioskConfig()


def leaf_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys = []
    for name, field in model.model_fields.items():
        args = getattr(field.annotation, "__args__", (field.annotation,))
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        keys.extend(leaf_keys(models[0], (*prefix, name)) if models else [(*prefix, name)])
    return keys


def test_example_file_is_valid_and_documents_every_key():
    text = EXAMPLE.read_text()
    assert load_config(EXAMPLE) == KioskConfig(), "the example shows the defaults"
    # Optional keys appear commented out ("# key = ..."); uncommented, they must be valid too.
    uncommented = re.sub(r"^# ?(?=\[|[a-z_]+ = )", "", text, flags=re.MULTILINE)
    parse_config(uncommented, source="uncommented example")
    documented = {tuple(part for part in key if not part.isdigit()) for key in key_lines(uncommented)}
    assert [".".join(k) for k in leaf_keys(KioskConfig) if k not in documented] == []


def test_unknown_key_is_named_with_line_and_suggestion():
    found = problems("[debounce]\ncooldown = 5\n")
    assert len(found) == 1
    assert found[0].startswith("kiosk.toml:2: debounce.cooldown: unknown key; did you mean 'cooldown_s'?")


def test_every_problem_is_reported_with_its_line():
    text = "[camera]\nwidth = 10\nfps = 500\n\n[decode]\ndecoders = ['zxing', 'zbar']\n"
    found = problems(text)
    assert any(p.startswith("kiosk.toml:2: camera.width:") and "greater than or equal to 160" in p for p in found)
    assert any(p.startswith("kiosk.toml:3: camera.fps:") for p in found)
    assert any(p.startswith("kiosk.toml:6: decode.decoders.1:") and '(got "zbar")' in p for p in found)
    assert len(found) == 3


def test_a_pin_used_twice_is_refused():
    found = problems('[feedback.gpio]\nrelay = "GPIO22"\n')
    assert len(found) == 1 and "pin is used twice" in found[0] and found[0].startswith("kiosk.toml:1: feedback.gpio")


def test_region_of_interest_must_stay_inside_the_frame():
    found = problems("[decode.roi]\nx = 0.5\nwidth = 0.6\n")
    assert "outside the frame" in found[0]


def test_syntax_error_is_reported_with_toml_position():
    found = problems("[camera\nfps = 3\n")
    assert found[0].startswith("kiosk.toml: not valid TOML:") and "line 1" in found[0]


def test_denylist_entries_must_be_subject_keys():
    found = problems('[policy]\ndenylist = ["001090012345"]\n')
    assert found[0].startswith("kiosk.toml:2: policy.denylist.0:")


def test_missing_named_file_is_an_error_but_missing_default_is_not(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    assert load_config(tmp_path / "nope.toml", required=False) == KioskConfig()


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_check_config_exits_2_with_one_line_per_problem(tmp_path: Path):
    bad = tmp_path / "kiosk.toml"
    bad.write_text("[camera]\nfps = 0\n[debounce]\nconfirm_frames = 99\n")
    result = kiosk("check-config", "--config", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"config error: {bad}:2: camera.fps: Input should be greater than 0 (got 0)",
        f"config error: {bad}:4: debounce.confirm_frames: Input should be less than or equal to 30 (got 99)",
    ]


def test_check_config_reads_kiosk_config_from_the_environment(tmp_path: Path):
    good = tmp_path / "k.toml"
    good.write_text('[device]\nvenue = "BV-DK-01"\n')
    result = kiosk("check-config", env={"KIOSK_CONFIG": str(good)})
    assert result.returncode == 0, result.stderr
    assert "venue BV-DK-01" in result.stdout


@pytest.mark.parametrize(
    ("gpio", "expected"),
    [
        ('relay = "GPIO7"\ngreen_led = "GPIO07"', "pin is used twice"),
        ('relay = "BCM22"', "pin is used twice"),  # GPIO22 is the green LED by default
        ('relay = "GPIO99"', "not on the 40-pin header"),
        ('relay = "BOARD11"', "expected a BCM pin name"),
        ("relay = 17", "expected a BCM pin name"),
    ],
)
def test_pins_are_bcm_names_and_clashes_are_found_however_written(gpio: str, expected: str):
    (found,) = problems(f"[feedback.gpio]\n{gpio}\n")
    assert expected in found


def test_pins_are_normalised_and_empty_means_not_fitted():
    gpio = parse_config('[feedback.gpio]\nrelay = "bcm5"\nbuzzer = ""\n').feedback.gpio
    assert (gpio.relay, gpio.buzzer) == ("GPIO5", None)


def test_values_are_not_coerced_from_strings():
    found = problems('[camera]\nloop = "yes"\nfps = "15"\n')
    assert len(found) == 2


def test_database_file_must_stay_inside_the_state_directory():
    assert "store.file" in problems('[store]\nfile = ".."\n')[0]


def test_a_region_too_small_to_hold_a_code_is_refused():
    (found,) = problems("[decode]\ndownscale = 0.1\n[decode.roi]\nwidth = 0.01\nheight = 0.01\n")
    assert "no code fits" in found


def test_a_camera_index_may_be_written_as_a_number():
    """The example says `a device index (0)`; `source = 0` was refused as not a string (issue 12 item 10)."""
    assert parse_config("[camera]\nsource = 0\n").camera.source == "0"
    assert parse_config('[camera]\nsource = "/dev/video2"\n').camera.source == "/dev/video2"
    assert problems("[camera]\nsource = true\n") == [
        "kiosk.toml:2: camera.source: Input should be a valid string (got true)"
    ]


def test_problems_show_values_as_toml_writes_them_never_a_python_dict():
    """A rule over a whole table printed the table as a Python dict (`got {'host': '0.0.0.0'}`)."""
    found = problems('[status_page]\nhost = "0.0.0.0"\n\n[camera]\nfps = "fast"\nloop = 3\n')
    assert found == [
        'kiosk.toml:5: camera.fps: Input should be a valid number (got "fast")',
        "kiosk.toml:6: camera.loop: Input should be a valid boolean (got 3)",
        "kiosk.toml:1: status_page: a status page reachable from the network needs a token of at least 16 characters",
    ]
    assert not any("{" in line or "'" in line for line in found)
