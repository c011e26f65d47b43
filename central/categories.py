"""Venue categories, after the list of places in letter 2278/BTTTT-THH that had to deploy QR check-in."""

from __future__ import annotations

CATEGORIES: dict[str, str] = {
    "office": "Cơ quan, công sở",
    "factory": "Nhà máy, khu công nghiệp",
    "school": "Trường học",
    "hospital": "Bệnh viện, cơ sở y tế",
    "station": "Bến xe, nhà ga, cảng",
    "vehicle": "Phương tiện vận tải hành khách",
    "market": "Chợ, siêu thị, trung tâm thương mại",
    "restaurant": "Nhà hàng, quán ăn",
    "hotel": "Khách sạn, cơ sở lưu trú",
    "event": "Sự kiện, hội nghị",
    "religious": "Cơ sở tôn giáo, tín ngưỡng",
    "tourism": "Điểm du lịch, vui chơi giải trí",
    "residential": "Khu dân cư, chung cư",
    "checkpoint": "Chốt kiểm soát",
    "other": "Khác",
}

CATEGORIES_EN: dict[str, str] = {
    "office": "Office, public agency",
    "factory": "Factory, industrial park",
    "school": "School",
    "hospital": "Hospital, health facility",
    "station": "Bus or railway station, port",
    "vehicle": "Passenger vehicle",
    "market": "Market, supermarket, shopping centre",
    "restaurant": "Restaurant, eatery",
    "hotel": "Hotel, lodging",
    "event": "Event, conference",
    "religious": "Place of worship",
    "tourism": "Tourist site, entertainment",
    "residential": "Residential area, apartment block",
    "checkpoint": "Control checkpoint",
    "other": "Other",
}


def category_name(code: str, lang: str) -> str:
    """The category's name in the page's language (`vi` or `en`); the code itself if it is not on the list."""
    return (CATEGORIES if lang == "vi" else CATEGORIES_EN).get(code, code)
