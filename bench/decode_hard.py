"""Issue 13: QR readers on hard frames and moving codes, against raw zxing-cpp measured on the same frames.

The frames come from bench/hardframes.py (generated at run time, deterministic for a seed; the set's fingerprint
is printed so that figures are only compared on one set).
  zxing          raw zxing-cpp, defaults, QR only: the baseline
  pyzbar         kiosk.decode.zbar.ZbarDecoder
  opencv         kiosk.decode.opencv.OpenCVDecoder
  union          a frame counts if zxing, pyzbar or OpenCV read it
  kiosk          FrameReader(build_chain(DecodeConfig())).read(image, at): a fresh reader per frame (no history),
                 the loop's time budget applies
  kiosk (still)  the same reader's read_still(image): no budget
  oracle         not a reader: the symbol rectified at its true corners (hardframes.readable); what a reader
                 that found the code perfectly could read, a ceiling for the others
  fused oracle   clips only, not a reader: a frame and up to two before it warped onto it at the true corners and
                 averaged, then the oracle (hardframes.readable_fused): a ceiling for readers that combine frames
A frame is read when the reader returns the code's text; any other text is a false read. False reads are also
counted on zxing-cpp's falsepositives-1 photos and on the generator's empty frames (anything read is false).
Clips: raw zxing-cpp on each frame alone, the kiosk with ONE FrameReader per clip fed the frames in order at
15 fps; frames to first read = first frame read - first frame with the whole symbol in view.
Cost: on the empty frames, raw zxing-cpp and the kiosk (fresh reader, and one reader fed the frames in sequence)
timed in turn on the same frame, the order alternating.

    .venv/bin/python bench/decode_hard.py [--frames 300] [--clips 24] [--empty 60] [--seed 13] [--json] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import hardframes as hf
import numpy as np
import zxingcpp
from common import QR_SAMPLES, add_repo_to_path, emit, machine, pct
from hardscene import H, W

add_repo_to_path()

from kiosk.builders import build_chain  # noqa: E402
from kiosk.camera.images import is_image, load_grey  # noqa: E402
from kiosk.config import DecodeConfig  # noqa: E402
from kiosk.decode.opencv import OpenCVDecoder  # noqa: E402
from kiosk.decode.reader import FrameReader  # noqa: E402
from kiosk.decode.zbar import ZbarDecoder  # noqa: E402

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
Read = Callable[[np.ndarray], list[tuple[bytes, str]]]
READERS = ("zxing", "pyzbar", "opencv", "kiosk", "kiosk (still)")
RAW = ("zxing", "pyzbar", "opencv")


def raw_zxing(image: np.ndarray) -> list[tuple[bytes, str]]:
    return [(bytes(r.bytes), r.text) for r in zxingcpp.read_barcodes(image, formats=QR)]


def kiosk_reader() -> FrameReader:
    """The reader as the gate builds it."""
    return FrameReader(build_chain(DecodeConfig()))


def readers() -> dict[str, Callable[[], Read]]:
    """For each reader, how to make it ready for one frame (outside the timing): the kiosk's is a fresh one."""
    zbar, ocv = ZbarDecoder(), OpenCVDecoder()

    def kiosk() -> Read:
        reader = kiosk_reader()
        return lambda im: [(c.payload, c.text) for c in reader.read(im, 0.0).codes]

    def still() -> Read:
        reader = kiosk_reader()
        return lambda im: [(c.payload, c.text) for c in reader.read_still(im).codes]

    def pyzbar() -> Read:
        return lambda im: [(c.payload, c.text) for c in zbar.read(im).codes]

    def opencv() -> Read:
        return lambda im: [(c.payload, c.text) for c in ocv.read(im).codes]

    return {"zxing": lambda: raw_zxing, "pyzbar": pyzbar, "opencv": opencv, "kiosk": kiosk, "kiosk (still)": still}


def timed(read: Read, image: np.ndarray) -> tuple[list[tuple[bytes, str]], float]:
    started = time.perf_counter()
    found = read(image)
    return found, (time.perf_counter() - started) * 1000


def matches(found: tuple[bytes, str], text: str) -> bool:
    return found[1] == text or found[0] == text.encode("utf-8")


def read_samples(samples: list[hf.Sample], reads: dict[str, Callable[[], Read]]) -> list[dict[str, Any]]:
    """Per sample and reader: read, false texts, ms; and the oracle."""
    rows = []
    for s in samples:
        row: dict[str, Any] = {"level": s.level, "main": s.main, "medium": s.medium}
        for name, make in reads.items():
            found, ms = timed(make(), s.image)
            row[name] = {
                "read": any(matches(f, s.text) for f in found),
                "false": sorted({f[1] for f in found if not matches(f, s.text)}),
                "ms": ms,
            }
        row["union"] = {"read": any(row[n]["read"] for n in RAW), "false": [], "ms": 0.0}
        row["oracle"] = {"read": hf.readable(s.image, s.corners, s.modules, s.text), "false": [], "ms": 0.0}
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]], names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"frames": len(rows)}
    for name in names:
        ms = [r[name]["ms"] for r in rows]
        out[name] = {
            "read": sum(r[name]["read"] for r in rows),
            "false": sum(len(r[name]["false"]) for r in rows),
            **({"ms": pct(ms)} if any(ms) else {}),
        }
    return out


def single_frame_tables(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names = [*READERS, "union", "oracle"]
    by_level = {lv: summarise([r for r in rows if r["level"] == lv], names) for lv in hf.LEVELS}
    cells = {
        f"{main} / {lv}": summarise(sub, names)
        for main in hf.MAINS
        for lv in hf.LEVELS
        if (sub := [r for r in rows if r["main"] == main and r["level"] == lv])
    }
    overall = summarise(rows, names)
    raw, hard = overall["zxing"]["read"], by_level["hard"]
    return {
        "overall": overall,
        "by level": by_level,
        "by degradation and level": cells,
        "kiosk / raw zxing": round(overall["kiosk"]["read"] / max(raw, 1), 3),
        "kiosk / raw zxing, hard": round(hard["kiosk"]["read"] / max(hard["zxing"]["read"], 1), 3),
        "false texts": sorted({t for r in rows for n in READERS for t in r[n]["false"]}),
    }


def false_positives(images: list[np.ndarray], reads: dict[str, Callable[[], Read]]) -> dict[str, int]:
    """Images on which each reader read anything at all."""
    return {name: sum(bool(make()(im)) for im in images) for name, make in reads.items()}


def photos() -> list[np.ndarray]:
    folder = QR_SAMPLES / "falsepositives-1"
    loaded = (load_grey(p) for p in sorted(folder.iterdir()) if is_image(p))
    return [im for im in loaded if im is not None]


def first_read(hits: list[bool]) -> int | None:
    return hits.index(True) if True in hits else None


def run_clip(clip: hf.Clip) -> dict[str, Any]:
    raw = [any(matches(f, clip.text) for f in raw_zxing(frame)) for frame in clip.frames]
    reader, kiosk, false = kiosk_reader(), [], set()
    for i, frame in enumerate(clip.frames):
        codes = reader.read(frame, i / hf.FPS).codes
        kiosk.append(any(c.text == clip.text for c in codes))
        false |= {c.text for c in codes if c.text != clip.text}
    oracle = [
        hf.readable(f, q, clip.modules, clip.text, quiet=True) for f, q in zip(clip.frames, clip.quads, strict=True)
    ]
    fused = next((k for k in range(clip.in_view, len(clip.frames)) if oracle[k] or hf.readable_fused(clip, k)), None)
    firsts = {"zxing": first_read(raw), "kiosk": first_read(kiosk), "oracle": first_read(oracle), "fused oracle": fused}
    return {
        "level": clip.level,
        "medium": clip.medium,
        "in_view": clip.in_view,
        **{f"{k} after in view": None if v is None else v - clip.in_view for k, v in firsts.items()},
        "kiosk false": sorted(false),
    }


def clip_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"clips": len(rows)}
    for name in ("zxing", "kiosk", "oracle", "fused oracle"):
        lags = [r[f"{name} after in view"] for r in rows if r[f"{name} after in view"] is not None]
        out[name] = {"read": len(lags), "never": len(rows) - len(lags),
                     "mean frames to first read": round(float(np.mean(lags)), 2) if lags else None}  # fmt: skip
    later = 0
    for r in rows:
        raw, kiosk = r["zxing after in view"], r["kiosk after in view"]
        later += raw is not None and (kiosk is None or kiosk > raw)
    out["kiosk later than zxing"] = later
    out["kiosk false reads"] = sum(len(r["kiosk false"]) for r in rows)
    return out


def cost(empty: list[np.ndarray], rounds: int) -> dict[str, Any]:
    """ms per empty frame: raw zxing-cpp, a fresh kiosk reader, one kiosk reader fed the frames in sequence."""
    times: dict[str, list[float]] = {"zxing": [], "kiosk (fresh)": [], "kiosk (continuous)": []}
    continuous, at = kiosk_reader(), 0.0
    for r in range(rounds):
        for i, frame in enumerate(empty):
            fresh = kiosk_reader()
            calls: list[tuple[str, Callable[[], object]]] = [
                ("zxing", partial(raw_zxing, frame)),
                ("kiosk (fresh)", partial(fresh.read, frame, 0.0)),
                ("kiosk (continuous)", partial(continuous.read, frame, at)),
            ]
            if (r + i) % 2:
                calls.reverse()
            for name, call in calls:
                started = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - started) * 1000)
            at += 1 / hf.FPS
    out: dict[str, Any] = {name: pct(ms) for name, ms in times.items()}
    base = out["zxing"]["p50"]
    for name in ("kiosk (fresh)", "kiosk (continuous)"):
        out[f"{name} / zxing, median"] = round(out[name]["p50"] / base, 3) if base else None
    return out


def idle_cost(scenes: int, seconds: float, seed: int) -> dict[str, Any]:
    """ms per frame at an idle gate: each of `scenes` empty scenes (every third) filmed for `seconds`, only the
    sensor's noise changing; raw zxing-cpp, and one kiosk reader per scene, as the gate runs it. Also the kiosk
    after its first 2 s on the scene, once its memory knows what in it is not a code."""
    frames = int(seconds * hf.FPS)
    times: dict[str, list[float]] = {"zxing": [], "kiosk": [], "kiosk after 2 s": []}
    for scene in range(0, 3 * scenes, 3):
        reader = kiosk_reader()
        for n, frame in enumerate(hf.idle_stream(scene, frames, seed)):
            _, raw_ms = timed(raw_zxing, frame)
            started = time.perf_counter()
            reader.read(frame, n / hf.FPS)
            ms = (time.perf_counter() - started) * 1000
            times["kiosk"].append(ms)
            times["zxing"].append(raw_ms)
            if n >= 2 * hf.FPS:
                times["kiosk after 2 s"].append(ms)
    out: dict[str, Any] = {name: pct(ms) for name, ms in times.items()}
    for name in ("kiosk", "kiosk after 2 s"):
        out[f"{name} / zxing, median"] = round(out[name]["p50"] / out["zxing"]["p50"], 3)
    return out


def fingerprint(arrays: Iterable[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kB on Linux


def kiosk_rss(samples: list[hf.Sample], clips: list[hf.Clip], empty: list[np.ndarray]) -> float:
    """Peak RSS (MB) of a process that only reads: the frames go to a file, and a child process reads them one at
    a time with the kiosk reader (fresh per single frame, one per clip), so the generator's memory is not in it."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "frames.u8"
        with path.open("wb") as out:
            for frame in [s.image for s in samples] + empty:
                out.write(np.ascontiguousarray(frame).tobytes())
            for clip in clips:
                for frame in clip.frames:
                    out.write(np.ascontiguousarray(frame).tobytes())
        sizes = f"{len(samples) + len(empty)},{','.join(str(len(c.frames)) for c in clips)}"
        command = [sys.executable, __file__, "--rss-child", str(path), sizes]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def rss_child(path: str, sizes: str) -> None:
    """Read the frames of `path` (see kiosk_rss) with the kiosk reader; print the peak RSS in MB."""
    counts = [int(n) for n in sizes.split(",")]
    with Path(path).open("rb") as f:

        def frame() -> np.ndarray:
            return np.frombuffer(f.read(W * H), np.uint8).reshape(H, W)

        for _ in range(counts[0]):
            kiosk_reader().read(frame(), 0.0)
        for n in counts[1:]:
            reader = kiosk_reader()
            for i in range(n):
                reader.read(frame(), i / hf.FPS)
    # NOTE: not getrusage: Linux carries ru_maxrss across fork and exec, so a child started by a big parent
    # reports the parent's peak. VmHWM is this process image's own high-water mark (proc(5)).
    status = Path("/proc/self/status").read_text().splitlines()
    print(round(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024, 1))


def run(args: argparse.Namespace) -> dict[str, Any]:
    cv2.setNumThreads(1)
    started = time.perf_counter()
    samples = hf.single_frames(args.frames, args.seed)
    clips = hf.clips(args.clips, args.seed)
    empty = hf.empty_frames(args.empty, args.seed)
    generated = time.perf_counter() - started
    reads = readers()
    rows = read_samples(samples, reads)
    clip_rows = [run_clip(c) for c in clips]
    result = {
        "benchmark": "decode_hard",
        "machine": machine(),
        "seed": args.seed,
        "set fingerprint": fingerprint([s.image for s in samples] + [f for c in clips for f in c.frames] + empty),
        "generation s": round(generated, 1),
        "single frames": single_frame_tables(rows),
        "clips": clip_summary(clip_rows),
        "clip rows": clip_rows,
        "false reads on empty frames": false_positives(empty, reads),
        "false reads on falsepositives-1": false_positives(photos(), reads),
        "cost on empty frames (ms)": cost(empty, args.rounds),
        "cost at an idle gate (ms)": idle_cost(args.idle_scenes, args.idle_s, args.seed),
        "peak rss MB, kiosk reading": kiosk_rss(samples, clips, empty),
        "peak rss MB, whole benchmark": peak_rss_mb(),
        "run s": round(time.perf_counter() - started, 1),
    }
    return result


def print_tables(result: dict[str, Any]) -> None:
    """The figures as Markdown tables (what BENCHMARKS.md shows)."""
    single, names = result["single frames"], [*READERS, "union", "oracle"]
    head = "| {} | frames | " + " | ".join(names) + " |"
    rule = "| --- | ---: |" + " ---: |" * len(names)
    print(head.format("level"), rule, sep="\n")
    for key, t in [*single["by level"].items(), ("all", single["overall"])]:
        print(f"| {key} | {t['frames']} | " + " | ".join(str(t[n]["read"]) for n in names) + " |")
    print(f"\nkiosk / raw zxing: {single['kiosk / raw zxing']}; hard: {single['kiosk / raw zxing, hard']}\n")
    print(head.format("degradation / level"), rule, sep="\n")
    for key, t in single["by degradation and level"].items():
        print(f"| {key} | {t['frames']} | " + " | ".join(str(t[n]["read"]) for n in names) + " |")
    print("\n| ms per frame, p50 / p95 | " + " | ".join(READERS) + " |\n| --- |" + " ---: |" * len(READERS))
    for key, t in [*single["by level"].items(), ("all", single["overall"])]:
        print(f"| {key} | " + " | ".join(f"{t[n]['ms']['p50']} / {t[n]['ms']['p95']}" for n in READERS) + " |")
    clips = result["clips"]
    print("\n| clips | read | never read | mean frames to first read |\n| --- | ---: | ---: | ---: |")
    for name in ("zxing", "kiosk", "oracle", "fused oracle"):
        c = clips[name]
        print(f"| {name} | {c['read']} / {clips['clips']} | {c['never']} | {c['mean frames to first read']} |")
    print(f"\nclips where the kiosk reads later than zxing: {clips['kiosk later than zxing']}")
    print("\n| false reads | " + " | ".join(READERS) + " |\n| --- |" + " ---: |" * len(READERS))
    print("| single frames (texts) | " + " | ".join(str(single["overall"][n]["false"]) for n in READERS) + " |")
    for key in ("false reads on empty frames", "false reads on falsepositives-1"):
        print(
            f"| {key.removeprefix('false reads on ')} (frames) | "
            + " | ".join(str(result[key][n]) for n in READERS)
            + " |"
        )
    cst = result["cost on empty frames (ms)"]
    print("\n| empty frames | p50 | p95 | median / zxing |\n| --- | ---: | ---: | ---: |")
    for name in ("zxing", "kiosk (fresh)", "kiosk (continuous)"):
        ratio = cst.get(f"{name} / zxing, median", 1.0)
        print(f"| {name} | {cst[name]['p50']} | {cst[name]['p95']} | {ratio} |")
    idle = result["cost at an idle gate (ms)"]
    print("\n| idle gate | p50 | p95 | median / zxing |\n| --- | ---: | ---: | ---: |")
    for name in ("zxing", "kiosk", "kiosk after 2 s"):
        ratio = idle.get(f"{name} / zxing, median", 1.0)
        print(f"| {name} | {idle[name]['p50']} | {idle[name]['p95']} | {ratio} |")
    print(f"\npeak RSS: kiosk reading {result['peak rss MB, kiosk reading']} MB, "
          f"this whole benchmark {result['peak rss MB, whole benchmark']} MB")  # fmt: skip
    print(f"set {result['set fingerprint']} (seed {result['seed']}); "
          f"generated in {result['generation s']} s, run {result['run s']} s")  # fmt: skip
    print("machine:", ", ".join(f"{k} {v}" for k, v in result["machine"].items()))


def kiosk_false_reads(result: dict[str, Any]) -> int:
    single = result["single frames"]["overall"]
    return int(
        single["kiosk"]["false"]
        + single["kiosk (still)"]["false"]
        + result["clips"]["kiosk false reads"]
        + sum(result[k]["kiosk"] + result[k]["kiosk (still)"]
              for k in ("false reads on empty frames", "false reads on falsepositives-1"))
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="single frames (a multiple of 3: equal thirds)")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--empty", type=int, default=60, help="frames with no code (cost and false reads)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over the empty frames")
    parser.add_argument("--idle-scenes", type=int, default=20, help="empty scenes filmed as an idle gate")
    parser.add_argument("--idle-s", type=float, default=3.0, help="seconds each idle scene is filmed")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if the kiosk reader read anything false")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    result = run(args)
    if args.json:
        emit(result, True)
    else:
        print_tables(result)
    if args.check and kiosk_false_reads(result):
        sys.exit(1)


if __name__ == "__main__":
    main()
