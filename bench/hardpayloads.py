"""QR texts for bench/hardframes.py: what people show a Vietnamese gate, with the error correction each is made with.

Every person, number and address is invented, drawn from a seeded generator.
  cccd      chip ID card: ID12|oldID9|Full Name|DDMMYYYY|Nam/Nữ|address|DDMMYYYY, UTF-8 without ECI, EC M (some L)
  pccovid   PC-Covid personal code: ID|ASCII NAME|YYYY-MM-DD|0/1|16-char QID|<0/1<phone<, EC M (some L)
  url       a short link on a slip or a screen, EC M (some Q)
  hd1       the project's health-declaration pass: "HD1:" + base45, 150-210 characters, EC M
  hc1       an EU digital COVID certificate: "HC1:" + base45, 500-600 characters, EC Q or M (large sizes only)
"""

from __future__ import annotations

import numpy as np

from kiosk.credentials.base45 import b45encode

SURNAMES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thu", "Ngọc", "Quang", "Thanh", "Xuân", "Hoàng", "Kim", "Bảo", "Gia"]
GIVEN = [
    "An",
    "Bình",
    "Châu",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hòa",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Nga",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Việt",
    "Yến",
    "Ánh",
    "Đạt",
    "Thắng",
]
STREETS = [
    "Tràng Tiền",
    "Lê Lợi",
    "Hai Bà Trưng",
    "Nguyễn Trãi",
    "Lạch Tray",
    "Trần Phú",
    "Điện Biên Phủ",
    "Lý Thường Kiệt",
]
WARDS = ["Hàng Bài", "Bến Thành", "Hàng Bột", "Phú Hòa", "Lạch Tray", "Tân Định", "Cầu Kho", "Phước Mỹ"]
CITIES = [
    ("Quận Hoàn Kiếm", "Hà Nội"), ("Quận 1", "TP. Hồ Chí Minh"), ("Quận Ngô Quyền", "TP. Hải Phòng"),
    ("TP. Thủ Dầu Một", "Tỉnh Bình Dương"), ("Quận Sơn Trà", "TP. Đà Nẵng"), ("Huyện Đắk R'Lấp", "Tỉnh Đắk Nông"),
]  # fmt: skip
KINDS = ("cccd", "pccovid", "url", "hd1", "hc1")
WEIGHTS = (0.4, 0.25, 0.15, 0.12, 0.08)


def ascii_upper(text: str) -> str:
    import unicodedata

    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _name(rng: np.random.Generator) -> str:
    parts = [rng.choice(SURNAMES), rng.choice(MIDDLE)]
    if rng.random() < 0.4:
        parts.append(rng.choice(MIDDLE))
    return " ".join([*parts, rng.choice(GIVEN)])


def _date(rng: np.random.Generator, years: tuple[int, int]) -> tuple[int, int, int]:
    return int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(*years))


def cccd(rng: np.random.Generator) -> str:
    d, m, y = _date(rng, (1950, 2006))
    sex = str(rng.choice(["Nam", "Nữ"]))
    province = f"{int(rng.integers(1, 97)):03d}"
    century = ("0" if y < 2000 else "2") if sex == "Nam" else ("1" if y < 2000 else "3")
    number = province + century + f"{y % 100:02d}" + _digits(rng, 6)
    old = _digits(rng, 9) if rng.random() < 0.6 else ""
    district, city = CITIES[int(rng.integers(len(CITIES)))]
    address = f"Số {int(rng.integers(1, 300))} {rng.choice(STREETS)}, Phường {rng.choice(WARDS)}, {district}, {city}"
    di, mi, yi = _date(rng, (2021, 2025))
    return "|".join([number, old, _name(rng), f"{d:02d}{m:02d}{y}", sex, address, f"{di:02d}{mi:02d}{yi}"])


def pccovid(rng: np.random.Generator) -> str:
    d, m, y = _date(rng, (1950, 2006))
    qid = "Q" + "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"), 15))
    vaccinated = str(rng.integers(0, 2))
    phone = "0" + str(rng.choice(["90", "93", "97", "86", "38"])) + _digits(rng, 7)
    doc = _digits(rng, 12) if rng.random() < 0.8 else _digits(rng, 9)
    return "|".join([doc, ascii_upper(_name(rng)), f"{y}-{m:02d}-{d:02d}", vaccinated, qid, f"<{vaccinated}<{phone}<"])


def url(rng: np.random.Generator) -> str:
    token = "".join(rng.choice(list("abcdefghijkmnpqrstuvwxyz23456789"), int(rng.integers(6, 14))))
    host = str(rng.choice(["https://example.vn/c/", "https://tokhai.example.vn/?q=", "https://qr.example.com/p/"]))
    return host + token


def hd1(rng: np.random.Generator) -> str:
    return "HD1:" + b45encode(rng.bytes(int(rng.integers(100, 138))))


def hc1(rng: np.random.Generator) -> str:
    return "HC1:" + b45encode(rng.bytes(int(rng.integers(330, 397))))


MAKERS = {"cccd": cccd, "pccovid": pccovid, "url": url, "hd1": hd1, "hc1": hc1}


def payload(kind: str, rng: np.random.Generator) -> tuple[str, str]:
    """(text, error correction level) of one code of `kind`."""
    text = MAKERS[kind](rng)
    u = rng.random()
    if kind in ("cccd", "pccovid"):
        return text, "l" if u < 0.25 else "m"
    if kind == "url":
        return text, "q" if u < 0.3 else "m"
    if kind == "hc1":
        return text, "q" if u < 0.5 else "m"
    return text, "m"
