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
}


def message(reason: str, language: str = "vi") -> str:
    """The message for `reason` in "vi" or "en"; a reason without one falls back to the generic outcome."""
    vi, en = MESSAGES.get(reason, WAIT_FOR_GUARD)
    return en if language == "en" else vi
