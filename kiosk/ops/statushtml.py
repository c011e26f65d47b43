"""The technician's status page as HTML: one language at a time (the kiosk's, `feedback.language`, the other one
link away) and times in the kiosk's local zone (the system's, which the image sets to Asia/Ho_Chi_Minh).

No script and no external resource. Codes (reason codes, credential kinds, the camera source's name and path)
are shown as they are, marked as no language (`lang="zxx"`); texts that come from elsewhere in English (a sync
error, SQLite's words) are marked `lang="en"`, so that a screen reader reads them right. /status.json keeps UTC
and the codes, for machines.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from kiosk.policy.messages import message

LANGUAGES = ("vi", "en")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WORDS: dict[str, tuple[str, str]] = {
    "title": ("Trạng thái cổng", "Gate status"),
    "device": ("Thiết bị", "Device"),
    "id": ("Mã thiết bị", "Device id"),
    "venue": ("Địa điểm", "Venue"),
    "direction": ("Chiều", "Direction"),
    "in": ("Vào", "In"),
    "out": ("Ra", "Out"),
    "version": ("Phiên bản", "Version"),
    "uptime": ("Thời gian chạy", "Running for"),
    "camera": ("Camera", "Camera"),
    "source": ("Nguồn", "Source"),
    "fps": ("Khung hình mỗi giây", "Frames per second"),
    "frames": ("Khung hình", "Frames"),
    "dropped": ("Khung hình bị bỏ", "Frames dropped"),
    "camera_failures": ("Lỗi camera", "Camera failures"),
    "failures": ("Số lần lỗi", "Failures"),
    "last_frame": ("Khung hình cuối (giây trước)", "Last frame (seconds ago)"),
    "decode_ms": ("Giải mã p50 / p95 (ms)", "Decoding p50 / p95 (ms)"),
    "scanners": ("Máy quét mã", "Scanners"),
    "scanner": ("Máy quét", "Scanner"),
    "connected": ("Đang kết nối", "Connected"),
    "scans": ("Mã đã quét", "Codes scanned"),
    "refused": ("Mã bị từ chối", "Codes refused"),
    "disconnects": ("Số lần mất kết nối", "Times disconnected"),
    "osdp": ("Tủ điều khiển ra vào (OSDP)", "Access panel (OSDP)"),
    "port": ("Cổng", "Port"),
    "online": ("Đang kết nối", "Online"),
    "secure": ("Kênh bảo mật", "Secure channel"),
    "reported": ("Lần đọc thẻ đã gửi", "Card reads sent"),
    "commands": ("Lệnh đã thực hiện", "Commands obeyed"),
    "codes": ("Mã đã đọc", "Codes read"),
    "decisions": ("Quyết định", "Decisions"),
    "ACCEPT": ("Cho vào", "Accepted"),
    "DENY": ("Từ chối", "Denied"),
    "REVIEW": ("Chờ bảo vệ kiểm tra", "For the guard"),
    "latency": ("Độ trễ p50 / p95 (ms)", "Latency p50 / p95 (ms)"),
    "store_errors": ("Lỗi ghi sự kiện", "Events not written"),
    "backlog": ("Hàng đợi", "Backlog"),
    "recording": ("Ghi sự kiện", "Recording events"),
    "unsent": ("Chưa gửi", "Unsent"),
    "oldest_unsent": ("Cũ nhất chưa gửi", "Oldest unsent"),
    "quarantined": ("Cách ly", "Quarantined"),
    "sync": ("Đồng bộ", "Sync"),
    "enrolled": ("Đã đăng ký với trung tâm", "Enrolled"),
    "server": ("Máy chủ", "Server"),
    "running": ("Đang chạy", "Running"),
    "last_success_age_s": ("Lần thành công gần nhất (giây trước)", "Last success (seconds ago)"),
    "last_error": ("Lỗi gần nhất", "Last error"),
    "revoked": ("Bị thu hồi", "Revoked"),
    "held": ("Trung tâm giữ lại", "Held by the centre"),
    "problem": ("Sự cố", "Problem"),
    "system": ("Hệ thống", "System"),
    "device_time": ("Giờ thiết bị", "Device time"),
    "clock": ("Đồng hồ đã đồng bộ", "Clock synchronised"),
    "trust_age": ("Tuổi danh sách tin cậy", "Trust list age"),
    "status_age": ("Tuổi danh sách trạng thái", "Status list age"),
    "disk_free": ("Dung lượng trống", "Disk free"),
    "recent": ("Quyết định gần đây", "Recent decisions"),
    "time": ("Thời gian", "Time"),
    "kind": ("Loại", "Kind"),
    "decision": ("Quyết định", "Decision"),
    "reason": ("Lý do", "Reason"),
    "latency_ms": ("Độ trễ (ms)", "Latency (ms)"),
    "yes": ("có", "yes"),
    "no": ("không", "no"),
    "snapshot": ("Ảnh camera, các mã được làm mờ", "Camera picture, codes blurred"),
    "other_language": ("English", "Tiếng Việt"),
}
UNITS = {"vi": ("ngày", "giờ", "phút", "giây"), "en": ("d", "h", "m", "s")}
SYNC_ROWS = ("enrolled", "server", "running", "last_success_age_s", "last_error", "revoked", "failures", "held",
             "quarantined", "problem")  # fmt: skip
FOREIGN = {"last_error", "problem"}  # English texts from elsewhere


@dataclass(frozen=True)
class Cell:
    """A value to show: `text` in the page's language, or in `lang` ("zxx": a code, "en": English from elsewhere)."""

    text: str
    lang: str | None = None

    def html(self) -> str:
        return f'<span lang="{self.lang}">{_e(self.text)}</span>' if self.lang else _e(self.text)


class Page:
    """The words, numbers and times of one page in `lang`, in `zone` (None: the system's zone)."""

    def __init__(self, lang: str, zone: tzinfo | None) -> None:
        self.lang = lang if lang in LANGUAGES else "vi"
        self.zone = zone

    def word(self, key: str) -> str:
        vi, en = WORDS.get(key, (key, key))
        return en if self.lang == "en" else vi

    def value(self, value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self.word("yes" if value else "no")
        if isinstance(value, float):
            return f"{value:g}" if self.lang == "en" else f"{value:g}".replace(".", ",")
        return str(value)

    def time(self, iso: str | None, *, with_zone: bool = False) -> str:
        """An ISO 8601 time (UTC) in the zone: 26/11/2026 10:00:03, or 26 Nov 2026 10:00:03."""
        if iso is None:
            return "—"
        moment = datetime.fromisoformat(iso).astimezone(self.zone)
        clock = moment.strftime("%H:%M:%S")
        if self.lang == "en":
            text = f"{moment.day} {MONTHS_EN[moment.month - 1]} {moment.year} {clock}"
        else:
            text = f"{moment:%d/%m/%Y} {clock}"
        return f"{text} ({_utc_offset(moment)})" if with_zone else text

    def duration(self, seconds: float | None) -> str:
        """1 ngày 2 giờ 3 phút, or 1d 2h 3m; under an hour, minutes and seconds."""
        if seconds is None:
            return "—"
        s = int(seconds)
        counts = [s // 86400, s % 86400 // 3600, s % 3600 // 60] if s >= 3600 else [s // 60, s % 60]
        units = UNITS[self.lang][:3] if s >= 3600 else UNITS[self.lang][2:]
        space = "" if self.lang == "en" else " "
        return " ".join(f"{count}{space}{unit}" for count, unit in zip(counts, units, strict=True))


def _utc_offset(moment: datetime) -> str:
    minutes = int((moment.utcoffset() or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def render_page(
    report: dict[str, Any],
    query: Mapping[str, str] | None = None,
    refresh_s: int = 5,
    *,
    lang: str = "vi",
    zone: tzinfo | None = None,
) -> str:
    """The page for `report` (kiosk/ops/statusreport.py); `query` (a token) is carried to every link."""
    page = Page(lang, zone)
    carried = dict(query or {})
    suffix = f"?{urlencode(carried)}" if carried else ""
    other = "en" if page.lang == "vi" else "vi"
    switch = "/?" + urlencode({"lang": other, **carried})
    tables = "".join(
        f"<section><h2>{_e(page.word(title))}</h2>{_table(page, rows)}</section>"
        for title, rows in _sections(page, report).items()
        if rows  # no scanner section on a gate without scanners
    )
    return (
        f'<!doctype html><html lang="{page.lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{refresh_s}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(page.word('title'))}</title><style>{STYLE}</style></head><body>"
        f'<p><a href="{_e(switch)}" lang="{other}">{_e(page.word("other_language"))}</a></p>'
        f"<h1>{_e(page.word('title'))}: {_e(report['device']['id'])}</h1>{tables}"
        f'<h2>{_e(page.word("recent"))}</h2><div class="scroll">{_recent(page, report["recent"])}</div>'
        f'<h2>{_e(page.word("camera"))}</h2><img src="/snapshot.png{_e(suffix)}" alt="{_e(page.word("snapshot"))}">'
        f'<p><a href="/status.json{_e(suffix)}">status.json</a> · <a href="/metrics{_e(suffix)}">metrics</a></p>'
        "</body></html>"
    )


STYLE = (
    "body{font-family:sans-serif;margin:1em}"
    "section{display:inline-block;vertical-align:top;margin:0 2em 1em 0;max-width:100%}"
    "td,th{padding:2px 8px;text-align:left;vertical-align:top}"
    "section td{overflow-wrap:anywhere}.scroll td{white-space:nowrap}"
    ".ACCEPT{color:#070}.DENY{color:#a00}.REVIEW{color:#a60}img{max-width:100%}.scroll{overflow-x:auto}"
)


def _sections(page: Page, report: dict[str, Any]) -> dict[str, list[tuple[str, str | Cell]]]:
    cam, store, sync, device = report["camera"], report["store"], report["sync"], report["device"]
    decisions = report["decisions"]
    return {
        "device": [
            ("id", device["id"]), ("venue", device["venue"]), ("direction", page.word(device["direction"])),
            ("version", device["version"]), ("uptime", page.duration(report["uptime_s"])),
        ],
        "camera": [
            ("source", Cell(cam["source"], "zxx")), ("fps", page.value(cam["fps"])),
            ("frames", page.value(cam["frames"])), ("dropped", page.value(cam["dropped"])),
            ("camera_failures", page.value(cam["failures"])),
            ("last_frame", page.value(cam["last_frame_age_s"])),
            ("decode_ms", _pair(page, report["decode"]["ms"])), ("codes", page.value(report["decode"]["codes"])),
        ],
        "scanners": [row for scanner in report.get("scanners", []) for row in _scanner_rows(page, scanner)],
        "osdp": _osdp_rows(page, report.get("osdp")),
        "decisions": [
            *((outcome, page.value(count)) for outcome, count in decisions.items()),
            ("latency", _pair(page, report["decision_ms"])), ("store_errors", page.value(report["errors"]["store"])),
        ],
        "backlog": [
            ("recording", Cell(store["fault"], "en") if store.get("fault") else page.word("yes")),
            ("unsent", page.value(store["unsent"])), ("oldest_unsent", page.duration(store["oldest_unsent_age_s"])),
            ("quarantined", page.value(store["quarantined"])),
        ],
        "sync": [
            (key, Cell(str(sync[key]), "en") if key in FOREIGN and sync[key] else page.value(sync[key]))
            for key in (*SYNC_ROWS, *(k for k in sync if k not in SYNC_ROWS)) if key in sync
        ],
        "system": [
            ("device_time", page.time(report["clock"]["now"], with_zone=True)),
            ("clock", page.value(report["clock"]["synchronised"])),
            ("trust_age", page.duration(report["trust_list_age_s"])),
            ("status_age", page.duration(report["status_list_age_s"])),
            ("disk_free", f"{report['disk_free_mb']} MB"),
        ],
    }  # fmt: skip


def _scanner_rows(page: Page, scanner: dict[str, Any]) -> list[tuple[str, str | Cell]]:
    error = scanner["last_error"]
    return [
        ("scanner", Cell(scanner["name"], "zxx")),
        ("connected", page.value(scanner["connected"])),
        ("scans", page.value(scanner["scans"])),
        ("refused", page.value(scanner["refused"])),
        ("disconnects", page.value(scanner["disconnects"])),
        ("last_error", Cell(error, "en") if error else page.value(None)),
    ]


def _osdp_rows(page: Page, osdp: dict[str, Any] | None) -> list[tuple[str, str | Cell]]:
    if osdp is None:
        return []
    return [("port", Cell(osdp["port"], "zxx"))] + [
        (key, page.value(osdp[key])) for key in ("online", "secure", "reported", "dropped", "commands")
    ]


def _table(page: Page, rows: list[tuple[str, str | Cell]]) -> str:
    cells = (f"<tr><th>{_e(page.word(key))}</th><td>{_cell(value)}</td></tr>" for key, value in rows)
    return "<table>" + "".join(cells) + "</table>"


def _recent(page: Page, rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(page.word(h))}</th>" for h in ("time", "kind", "decision", "reason", "latency_ms"))
    body = "".join(
        f'<tr class="{_e(r["decision"])}"><td>{_e(page.time(r["time"]))}</td><td>{Cell(r["kind"], "zxx").html()}</td>'
        f"<td>{_e(page.word(r['decision']))}</td>"
        f"<td>{_e(message(r['reason'], page.lang))} {Cell(r['reason'], 'zxx').html()}</td>"
        f"<td>{_e(page.value(round(float(r['latency_ms']), 1)))}</td></tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: str | Cell) -> str:
    return value.html() if isinstance(value, Cell) else _e(value)


def _pair(page: Page, p: dict[str, float | None]) -> str:
    return f"{page.value(p['p50'])} / {page.value(p['p95'])}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
