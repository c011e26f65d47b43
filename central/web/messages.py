"""The message catalogue of the centre's pages: every error, refusal and notice a person can be shown, in
Vietnamese and English, by key. A page never shows an exception's text: the domain's errors are written for the
command line, in English, and may name its options; a page catches them and shows the catalogue's message.

The labels of forms and tables are written in both languages where they are used, in the templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from central.declarations.form import MESSAGES as DECLARATION_MESSAGES

CATALOGUE: dict[str, tuple[str, str]] = {
    # Signing in
    "login.wrong": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login.throttled": (
        "Đăng nhập sai quá nhiều lần. Thử lại sau {minutes} phút.",
        "Too many failed sign-ins. Try again in {minutes} min.",
    ),
    # Error pages: a title, and what to do
    "page.403": ("Không được phép", "Not allowed"),
    "page.403.help": (
        "Trang này không dành cho tài khoản của bạn, hoặc biểu mẫu đã hết hạn: tải lại trang và thử lại.",
        "This page is not for your account, or the form expired: reload the page and try again.",
    ),
    "page.404": ("Không tìm thấy trang", "Page not found"),
    "page.404.help": (
        "Địa chỉ này không có trang nào. Kiểm tra lại đường dẫn, hoặc bắt đầu từ trang chính.",
        "There is no page at this address. Check the link, or start again from the home page.",
    ),
    "page.405": ("Không thực hiện được", "This cannot be done here"),
    "page.405.help": (
        "Trang này không nhận yêu cầu kiểu này. Hãy dùng các nút và liên kết trên trang.",
        "This page does not take this kind of request. Use the buttons and links on the page.",
    ),
    "page.413": ("Dữ liệu gửi lên quá lớn", "What was sent is too large"),
    "page.413.help": (
        "Hãy gửi tệp hoặc nội dung nhỏ hơn.",
        "Send a smaller file or less text.",
    ),
    "page.422": ("Biểu mẫu không đọc được", "The form could not be read"),
    "page.422.help": (
        "Một mục quá dài, thiếu, hoặc có ký tự không được phép. Quay lại, sửa và gửi lại.",
        "An answer is too long, missing, or has a character that is not allowed. Go back, correct it and send it "
        "again.",
    ),
    "page.500": ("Lỗi máy chủ", "Server error"),
    "page.500.help": (
        "Máy chủ gặp lỗi khi xử lý yêu cầu và đã ghi lại lỗi. Thử lại sau ít phút; nếu vẫn lỗi, báo quản trị hệ thống.",
        "The server failed to answer and has logged why. Try again in a few minutes; if it fails again, tell the "
        "administrator.",
    ),
    "page.other": ("Không thực hiện được yêu cầu", "The request could not be done"),
    "page.other.help": (
        "Quay lại trang trước và thử lại.",
        "Go back to the previous page and try again.",
    ),
    # Whom to trace or list: exactly one of an ID number, a QR code's text or picture, a subject key
    "subject.one": (
        "Nhập đúng một trong các mục: số định danh, nội dung mã QR, ảnh mã QR hoặc mã chủ thể.",
        "Give exactly one of: an ID number, a QR code's text, a picture of it, or a subject key.",
    ),
    "subject.number": (
        "Số định danh không hợp lệ: số CCCD gồm 12 chữ số, số CMND cũ gồm 9 chữ số.",
        "This is not an ID number: a CCCD number has 12 digits, an old CMND number 9.",
    ),
    "subject.key": (
        "Mã chủ thể gồm đúng 32 ký tự thập lục phân (0-9, a-f).",
        "A subject key is exactly 32 hexadecimal digits (0-9, a-f).",
    ),
    "subject.no_identity": (
        "Mã QR này không chứa thông tin định danh nào để tra cứu.",
        "This QR code holds no identity to look up.",
    ),
    "subject.picture": (
        "Không đọc được mã QR nào trong ảnh. Hãy chụp lại rõ và thẳng hơn (PNG hoặc JPEG, tối đa {megapixels} "
        "megapixel).",
        "No QR code could be read in the picture. Take a sharper, straighter one (PNG or JPEG, at most "
        "{megapixels} megapixels).",
    ),
    "subject.picture_size": (
        "Ảnh lớn hơn {megabytes} MB: hãy gửi ảnh nhỏ hơn.",
        "The picture is larger than {megabytes} MB: send a smaller one.",
    ),
    # Tracing
    "trace.reason": (
        "Ghi lý do truy vết (bắt buộc, được ghi vào nhật ký).",
        "Give the reason for this trace (required, it is kept in the audit log).",
    ),
    "trace.start": (
        "Ô «Từ» không phải ngày giờ hợp lệ: chọn ngày và giờ.",
        "“From” is not a date and time: choose both.",
    ),
    "trace.end": ("Ô «Đến» không phải ngày giờ hợp lệ: chọn ngày và giờ.", "“To” is not a date and time: choose both."),
    "trace.window": ("Thời điểm «Từ» phải trước thời điểm «Đến».", "“From” must be before “To”."),
    "trace.dwell": (
        "Thời gian lưu lại là số phút, từ 1 đến {most}.",
        "The stay is a number of minutes, from 1 to {most}.",
    ),
    # The status list
    "status.colour": ("Chọn Đỏ hoặc Vàng.", "Choose red or yellow."),
    "status.reason": ("Ghi lý do (được ghi vào nhật ký).", "Give the reason (it is kept in the audit log)."),
    "status.date": ("Ngày hết hạn không hợp lệ: chọn một ngày.", "The end date is not a date: choose a day."),
    "status.range": (
        "Ngày hết hạn phải từ hôm nay đến {days} ngày tới.",
        "The end date must be from today to {days} days ahead.",
    ),
    # Accounts
    "account.username": (
        "Tên đăng nhập gồm 3 đến 64 ký tự a-z, 0-9, dấu chấm, gạch dưới hoặc gạch ngang, bắt đầu bằng chữ hoặc số.",
        "A username is 3 to 64 of a-z, 0-9, dot, underscore or hyphen, starting with a letter or digit.",
    ),
    "account.role": ("Chọn một vai trò trong danh sách.", "Choose a role from the list."),
    "account.password": ("Mật khẩu cần ít nhất {least} ký tự.", "A password needs at least {least} characters."),
    "account.unit_needed": (
        "Vai trò này cần mã địa bàn: địa bàn mà tài khoản được xem.",
        "This role needs a unit code: the area the account sees.",
    ),
    "account.venue_needed": ("Quản lý địa điểm cần mã địa điểm.", "A venue admin needs a venue code."),
    "account.no_unit": ("Không có địa bàn mã «{code}».", "There is no unit with the code “{code}”."),
    "account.no_venue": ("Không có địa điểm mã «{code}».", "There is no venue with the code “{code}”."),
    "account.exists": ("Tài khoản «{username}» đã có.", "The account “{username}” exists already."),
    "account.self": ("Không thể tự khoá tài khoản của mình.", "You cannot disable your own account."),
    "account.unknown": (
        "Không có tài khoản «{username}» nào đang hoạt động.",
        "There is no active account “{username}”.",
    ),
    # A venue's gate rules (central/gaterules.py): each names its field and says what it takes
    "rules.mode": ("Chế độ kiểm tra: chọn một chế độ trong danh sách.", "Gate mode: choose one from the list."),
    "rules.strangers": (
        "Người chưa đăng ký: chọn từ chối, gọi bảo vệ hoặc đưa đến quầy tiếp khách.",
        "People not enrolled: choose refuse, call the guard, or send to the visitor desk.",
    ),
    "rules.anti_passback_s": (
        "Chống quay lại: số giây từ 0 đến 86400 (0: tắt).",
        "Anti-passback: a number of seconds from 0 to 86400 (0: off).",
    ),
    "rules.trust_list_max_h": (
        "Tuổi tối đa của danh sách tin cậy: số giờ, từ 0 trở lên (0: không giới hạn).",
        "Greatest age of the trust list: a number of hours, 0 or more (0: no limit).",
    ),
    "rules.vaccination_wait_days": (
        "Số ngày chờ sau mũi tiêm cuối: từ 0 đến 365.",
        "Days to wait after the last dose: a number from 0 to 365.",
    ),
    "rules.test_max_age_h": (
        "Hiệu lực của xét nghiệm âm tính: số giờ lớn hơn 0, tối đa 720.",
        "How long a negative test counts: a number of hours above 0, at most 720.",
    ),
    "rules.recovery_max_days": (
        "Hiệu lực của giấy khỏi bệnh: số ngày lớn hơn 0, tối đa 3650.",
        "How long a recovery counts: a number of days above 0, at most 3650.",
    ),
    "rules.relay_hold_s": (
        "Thời gian mở cổng: số giây từ 1 đến 10.",
        "Time the gate stays open: a number of seconds from 1 to 10.",
    ),
    "rules.language": (
        "Ngôn ngữ của kiosk: chọn tiếng Việt hoặc tiếng Anh.",
        "Language of the kiosks: choose Vietnamese or English.",
    ),
    "rules.visit_hosts": (
        "Người khách đến gặp: từ 1 đến 50 dòng khác nhau, mỗi dòng tối đa 80 ký tự.",
        "Whom visitors come to see: 1 to 50 different lines, each at most 80 characters.",
    ),
    "rules.visit_purposes": (
        "Mục đích đến: từ 1 đến 50 dòng khác nhau, mỗi dòng tối đa 80 ký tự.",
        "Purposes of a visit: 1 to 50 different lines, each at most 80 characters.",
    ),
    # Who is inside a venue (central/web/visits_pages.py)
    "inside.at": (
        "Giờ không hợp lệ: nhập giờ và phút của hôm nay, ví dụ 18:00.",
        "This is not a time: give the hours and minutes of today, for example 18:00.",
    ),
    "inside.basis": (
        "Tính theo các lượt qua cổng được chấp nhận trong ngày đến thời điểm này, theo những gì các kiosk đã gửi về "
        "trung tâm. Mỗi lần xem được ghi vào nhật ký.",
        "Counted from the day's accepted passages up to this time, as far as the kiosks have sent them to the "
        "centre. Each look is kept in the audit log.",
    ),
    "inside.print": (
        "Để in danh sách điểm danh, dùng lệnh In của trình duyệt (Ctrl+P).",
        "To print the roll call, use the browser's Print command (Ctrl+P).",
    ),
    "inside.no_one": ("Không có ai.", "No one."),
    # Outgoing webhooks (central/web/webhooks_pages.py)
    "webhooks.none": (
        "Không có webhook nào gửi dữ liệu trong khu vực của bạn.",
        "No webhook sends events from your area.",
    ),
    "webhooks.read_only": (
        "Điểm nhận lỗi được xếp lên đầu. Quản trị hệ thống thêm hoặc gỡ webhook bằng lệnh kiosk-central webhooks.",
        "Failing endpoints are listed first. The administrator adds or removes webhooks with kiosk-central webhooks.",
    ),
    "webhooks.failing": ("Đang lỗi", "Failing"),
    "webhooks.ok": ("Bình thường", "OK"),
    "webhooks.never": ("Chưa lần nào", "Never"),
    "webhooks.error.http": ("Bên nhận trả lời mã lỗi HTTP {status}.", "The receiver answered HTTP {status}."),
    "webhooks.error.redirect": (
        "Bên nhận chuyển hướng (HTTP {status}); trung tâm không đi theo.",
        "The receiver redirected (HTTP {status}); the centre does not follow.",
    ),
    "webhooks.error.timeout": ("Bên nhận không trả lời trong {seconds} giây.", "No answer within {seconds} s."),
    "webhooks.error.connect": ("Không kết nối được tới bên nhận.", "Could not connect to the receiver."),
    "webhooks.error.other": ("Gửi không thành công.", "The request failed."),
    # The venue admin pages (central/web/venues_pages.py)
    "venues.unit": ("Không có địa bàn mã «{code}» trong khu vực của bạn.", "There is no unit “{code}” in your area."),
    "venues.none": ("Không có địa điểm nào phù hợp.", "No venue matches."),
    "venue.name": ("Tên địa điểm: từ 1 đến 200 ký tự.", "The venue's name: 1 to 200 characters."),
    "venue.category": ("Chọn một loại địa điểm trong danh sách.", "Choose a category from the list."),
    "venue.unit": (
        "Không có địa bàn mã «{code}» trong khu vực của bạn: nhập mã địa bàn mà địa điểm thuộc về.",
        "There is no unit “{code}” in your area: give the code of the unit the venue belongs to.",
    ),
    "venue.reason": ("Ghi lý do (được ghi vào nhật ký).", "Give the reason (it is kept in the audit log)."),
    "venue.confirm": (
        "Đánh dấu ô xác nhận để cho địa điểm ngừng hoạt động.",
        "Tick the box to confirm that the venue is to be retired.",
    ),
    "venue.retired": (
        "Địa điểm đã ngừng hoạt động: thông tin và thiết bị của nó không thay đổi được nữa.",
        "This venue is retired: its details and devices can no longer be changed.",
    ),
    "venue.device": (
        "Địa điểm này không có thiết bị «{device}» đang hoạt động.",
        "This venue has no active device “{device}”.",
    ),
    "venue.done.edited": ("Đã lưu thông tin địa điểm.", "The venue's details were saved."),
    "venue.done.unchanged": ("Không có gì thay đổi.", "Nothing was changed."),
    "venue.done.retired": (
        "Địa điểm đã ngừng hoạt động; các kiosk của nó đã bị thu hồi.",
        "The venue is retired; its kiosks were revoked.",
    ),
    "venue.done.revoked": (
        "Đã thu hồi thiết bị: từ nay trung tâm từ chối mọi dữ liệu nó gửi lên.",
        "The device was revoked: the centre refuses everything it sends from now on.",
    ),
    # The health declaration; the fields' own messages come from central/declarations/form.py
    "declare.unavailable": (
        "Trung tâm tạm thời chưa cấp được mã khai báo. Vui lòng thử lại sau hoặc liên hệ cơ quan y tế.",
        "The centre cannot issue passes just now. Please try again later or contact the health service.",
    ),
    "declare.phone_sealed": (
        "Số điện thoại chỉ được lưu dưới dạng mã hoá, chỉ cơ quan y tế mở được, để liên hệ với bạn khi cần.",
        "Your phone number is kept only encrypted, which only the health service can open, to call you if needed.",
    ),
    "declare.phone_discarded": (
        "Số điện thoại của bạn không được lưu: trung tâm chưa có khoá mã hoá của cơ quan y tế.",
        "Your phone number is not kept: the centre has no encryption key of the health service yet.",
    ),
    "declare.field.identity_type": ("Giấy tờ tùy thân", "Identity document"),
    "declare.field.identity_number": ("Số giấy tờ", "Document number"),
    "declare.field.phone": ("Số điện thoại di động", "Mobile phone number"),
    "declare.field.symptoms": ("Triệu chứng", "Symptoms"),
    "declare.field.contact_confirmed": ("Tiếp xúc gần với người mắc bệnh", "Close contact with a confirmed case"),
    "declare.field.lockdown_area": ("Ở trong khu vực phong toả", "In a lockdown area"),
    "declare.field.travel": ("Nơi đã đi qua", "Travel"),
    "declare.field.language": ("Ngôn ngữ", "Language"),
    **{f"declare.{code}": pair for code, pair in DECLARATION_MESSAGES.items()},
}


@dataclass(frozen=True)
class Message:
    """A catalogue message and the values of its {placeholders}, written out in a page's language by `text`."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.key not in CATALOGUE:
            raise KeyError(f"no message {self.key!r} in central/web/messages.py's CATALOGUE")

    def text(self, lang: str) -> str:
        vi, en = CATALOGUE[self.key]
        return (en if lang == "en" else vi).format(**self.values)


class PageError(Exception):
    """What a person typed or chose cannot be used; the page shows `message` and keeps their answers."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.message = Message(key, values)
