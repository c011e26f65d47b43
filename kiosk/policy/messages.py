"""What the person at the gate is told for each reason code, in Vietnamese and English.

Short enough for a banner and a spoken prompt. Never includes anything from the code itself.
"""

from __future__ import annotations

ENTER = ("Mời vào", "Please enter")
RECORDED = ("Đã ghi nhận", "Recorded")
REFUSED = ("Không được phép vào", "Entry not permitted")
INVALID = ("Mã không hợp lệ", "Invalid code")
UNVERIFIABLE = ("Không xác minh được mã", "This code cannot be verified")
WAIT_FOR_GUARD = ("Vui lòng chờ bảo vệ kiểm tra", "Please wait for the guard")

MESSAGES: dict[str, tuple[str, str]] = {
    "logged": RECORDED,
    "logged-malformed": RECORDED,
    "denylisted": REFUSED,
    "unknown-code": INVALID,
    "malformed": INVALID,
    "signature-invalid": INVALID,
    "unknown-signer": UNVERIFIABLE,
    "signer-certificate-expired": UNVERIFIABLE,
    "key-usage": UNVERIFIABLE,
    "expired": ("Mã đã hết hạn", "This code has expired"),
    "not-yet-valid": ("Mã chưa có hiệu lực", "This code is not valid yet"),
    "clock-unsynchronised": WAIT_FOR_GUARD,
    "trust-list-stale": ("Thiết bị cần cập nhật, vui lòng gặp bảo vệ", "Device needs an update, please see the guard"),
    "status-red": REFUSED,
    "status-yellow": WAIT_FOR_GUARD,
    "passback": ("Mã này đã được dùng để qua cổng", "This code was already used at this gate"),
    "identity-ok": ENTER,
    "no-identity": WAIT_FOR_GUARD,
    "certificate-ok": ENTER,
    "certificate-required": ("Vui lòng xuất trình chứng nhận tiêm chủng", "Please show a vaccination certificate"),
    "vaccination-incomplete": ("Chưa tiêm đủ liều", "Vaccination is not complete"),
    "vaccination-too-recent": ("Chưa đủ thời gian sau mũi tiêm cuối", "Too soon after the last dose"),
    "test-positive": REFUSED,
    "test-too-old": ("Kết quả xét nghiệm đã quá hạn", "The test result is too old"),
    "recovery-expired": ("Giấy xác nhận khỏi bệnh đã hết hạn", "The recovery certificate has expired"),
    "pass-ok": ENTER,
    "pass-yellow": WAIT_FOR_GUARD,
    "pass-red": REFUSED,
    "declaration-required": ("Vui lòng khai báo y tế", "Please make a health declaration"),
    "access-ok": ENTER,
    "exit-ok": ("Tạm biệt", "Goodbye"),
    "visit-opened": ("Mời khách vào", "Welcome, please enter"),
    "badge-ok": ENTER,
    "visitor-pass-ok": ("Mời khách vào", "Welcome, please enter"),
    "ticket-ok": ENTER,
    "wrong-venue": ("Thẻ này không dùng cho nơi này", "This pass is not for this place"),
    "pass-revoked": ("Thẻ đã bị thu hồi", "This pass has been revoked"),
    "pass-used": ("Vé này đã được sử dụng", "This pass has already been used"),
    "pass-unconfirmed": WAIT_FOR_GUARD,
    "outside-hours": ("Ngoài giờ được phép vào", "Outside your permitted hours"),
    "wrong-gate": ("Vui lòng dùng cổng khác", "Please use another gate"),
    "access-expired": ("Quyền ra vào đã hết hạn", "Your access has expired"),
    "not-enrolled": ("Chưa được đăng ký ra vào", "You are not registered here"),
    "visitor": ("Khách vui lòng đăng ký với bảo vệ", "Visitors please register with the guard"),
    "guard-accepted": ENTER,
    "exit-button": ("Tạm biệt", "Goodbye"),
    "scan-incomplete": ("Chưa đọc hết mã, vui lòng quét lại", "The code was cut off, please scan again"),
    "scan-too-long": INVALID,
    "scan-garbled": ("Không đọc được mã, vui lòng quét lại", "The code could not be read, please scan again"),
    "panel-decides": ("Vui lòng chờ", "Please wait"),
    "panel-granted": ENTER,
    "panel-denied": REFUSED,
    "panel-opened": ENTER,
    "no-badge": ("Chưa có thẻ ra vào, vui lòng gặp bảo vệ", "No access card on record, please see the guard"),
}


def message(reason: str, language: str = "vi") -> str:
    """The message for `reason` in "vi" or "en"; a reason without one falls back to the generic outcome."""
    vi, en = MESSAGES.get(reason, WAIT_FOR_GUARD)
    return en if language == "en" else vi


FAULT = ("Thiết bị gặp sự cố, vui lòng gặp bảo vệ", "The device has a fault, please see the guard")


class Messages:
    """The messages of one kiosk: its language, with the venue's own wording laid over the built-in one."""

    def __init__(self, language: str = "vi", overrides: dict[str, str] | None = None) -> None:
        self.language = language
        self.overrides = dict(overrides or {})

    def text(self, reason: str) -> str:
        """What the person is told for `reason`: never anything taken from the code itself."""
        return self.overrides.get(reason) or message(reason, self.language)

    def fault(self) -> str:
        return self.overrides.get("fault") or (FAULT[1] if self.language == "en" else FAULT[0])

    def all_texts(self) -> list[str]:
        """Every distinct text this kiosk may say (what voice renders ahead of time)."""
        texts = [self.text(reason) for reason in MESSAGES] + [self.fault()]
        return list(dict.fromkeys(texts))
