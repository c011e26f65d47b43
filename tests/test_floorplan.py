"""The floor plan's registries: every backend a config may name has exactly one builder, found by its type key.

The import layers themselves are checked by import-linter (`make lint`, contracts in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from kiosk.builders import DECODERS, SOURCES, SourceKind, source_kind
from kiosk.config.model import DecoderName
from kiosk.config.outputs import OutputName
from kiosk.outputs import OUTPUTS


@pytest.mark.parametrize(
    ("registry", "names"),
    [(DECODERS, DecoderName), (SOURCES, SourceKind), (OUTPUTS, OutputName)],
    ids=["decoders", "camera sources", "outputs"],
)
def test_every_name_a_config_may_give_has_one_builder(registry: dict[str, object], names: object) -> None:
    assert sorted(registry) == sorted(get_args(names))


def test_a_camera_source_is_told_by_its_spec(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    cases = {
        "picamera2": "picamera2",
        "0": "device",
        "/dev/video2": "device",
        "rtsp://user:pw@10.0.0.5/stream": "stream",
        str(tmp_path / "frames"): "images",
        str(tmp_path / "gate.mp4"): "video",
    }
    assert {spec: source_kind(spec) for spec in cases} == cases


def test_the_centres_command_line_package_has_no_cycle() -> None:
    """`central.cli`'s commands share helpers through `central.cli.common`, never through the package itself."""
    import grimp

    graph = grimp.build_graph("central")
    parts = graph.find_children("central.cli")
    assert parts, "central.cli is a package of command modules"
    assert {part for part in parts if "central.cli" in graph.find_modules_directly_imported_by(part)} == set()
