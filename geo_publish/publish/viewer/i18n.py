"""The viewer's own words in the three languages of the portal (Uzbek in Latin script)."""

from __future__ import annotations

LANGS = ("uz", "ru", "en")
NAMES = {"uz": "O'zbekcha", "ru": "Русский", "en": "English"}

UI: dict[str, dict[str, str]] = {
    "site_title": {"en": "Open geodata", "ru": "Открытые геоданные", "uz": "Ochiq geoma'lumotlar"},
    "search": {"en": "Search layers by name", "ru": "Поиск слоя по названию",
               "uz": "Qatlamni nomi bo'yicha qidirish"},
    "map_all": {"en": "Map of all layers", "ru": "Карта всех слоёв", "uz": "Barcha qatlamlar xaritasi"},
    "map": {"en": "Map", "ru": "Карта", "uz": "Xarita"},
    "all_layers": {"en": "All layers", "ru": "Все слои", "uz": "Barcha qatlamlar"},
    "organization": {"en": "Organisation", "ru": "Организация", "uz": "Tashkilot"},
    "responsible": {"en": "Responsible person", "ru": "Ответственный", "uz": "Mas'ul shaxs"},
    "license": {"en": "Licence", "ru": "Лицензия", "uz": "Litsenziya"},
    "version": {"en": "Version", "ru": "Версия", "uz": "Versiya"},
    "updated": {"en": "Last update", "ru": "Обновлено", "uz": "Oxirgi yangilanish"},
    "frequency": {"en": "Update frequency", "ru": "Периодичность обновления",
                  "uz": "Yangilanish davriyligi"},
    "features": {"en": "Features", "ru": "Объектов", "uz": "Obyektlar soni"},
    "downloads": {"en": "Download", "ru": "Скачать", "uz": "Yuklab olish"},
    "api": {"en": "API (OGC API - Features)", "ru": "API (OGC API - Features)",
            "uz": "API (OGC API - Features)"},
    "passport": {"en": "Data passport", "ru": "Паспорт данных", "uz": "Ma'lumotlar pasporti"},
    "report": {"en": "Validation report", "ru": "Отчёт о проверке", "uz": "Tekshiruv hisoboti"},
    "no_match": {"en": "No layer matches.", "ru": "Нет подходящих слоёв.",
                 "uz": "Mos qatlam topilmadi."},
    "layers": {"en": "Layers", "ru": "Слои", "uz": "Qatlamlar"},
    "legend": {"en": "Legend", "ru": "Условные обозначения", "uz": "Shartli belgilar"},
    "locate": {"en": "Nearest to me", "ru": "Ближайшие ко мне", "uz": "Menga eng yaqin"},
    "locating": {"en": "Finding your position…", "ru": "Определяем ваше местоположение…",
                 "uz": "Joylashuvingiz aniqlanmoqda…"},
    "no_position": {"en": "Your position is not available", "ru": "Местоположение недоступно",
                    "uz": "Joylashuvingiz aniqlanmadi"},
    "you": {"en": "You are here", "ru": "Вы здесь", "uz": "Siz shu yerdasiz"},
    "nearest": {"en": "Nearest", "ru": "Ближайшие", "uz": "Eng yaqinlari"},
    "close": {"en": "Close", "ru": "Закрыть", "uz": "Yopish"},
    "load_failed": {"en": "Could not load", "ru": "Не удалось загрузить", "uz": "Yuklab bo'lmadi"},
    "km": {"en": "km", "ru": "км", "uz": "km"},
    "m": {"en": "m", "ru": "м", "uz": "m"},
    "incomplete": {"en": "passport incomplete", "ru": "паспорт не заполнен",
                   "uz": "pasport to'liq emas"},
    "language": {"en": "Language", "ru": "Язык", "uz": "Til"},
    "opacity": {"en": "Opacity", "ru": "Прозрачность", "uz": "Shaffoflik"},
    "report_problem": {"en": "Report a problem", "ru": "Сообщить о проблеме",
                       "uz": "Muammo haqida xabar berish"},
    "cat_wrong_location": {"en": "Wrong location", "ru": "Неверное местоположение",
                           "uz": "Noto'g'ri joylashuv"},
    "cat_closed_or_moved": {"en": "Closed or moved", "ru": "Закрыто или перемещено",
                            "uz": "Yopilgan yoki ko'chirilgan"},
    "cat_wrong_information": {"en": "Wrong information", "ru": "Неверные сведения",
                              "uz": "Noto'g'ri ma'lumot"},
    "cat_missing_feature": {"en": "Something is missing", "ru": "Чего-то не хватает",
                            "uz": "Nimadir yetishmayapti"},
    "cat_other": {"en": "Other", "ru": "Другое", "uz": "Boshqa"},
    "report_text": {"en": "What is wrong?", "ru": "Что не так?", "uz": "Nima noto'g'ri?"},
    "report_email": {"en": "Your e-mail, to hear back (optional)",
                     "ru": "Ваша эл. почта для ответа (необязательно)",
                     "uz": "Javob uchun e-pochtangiz (ixtiyoriy)"},
    "send": {"en": "Send", "ru": "Отправить", "uz": "Yuborish"},
    "sent": {"en": "Thank you: sent to the person responsible for this layer.",
             "ru": "Спасибо: сообщение отправлено ответственному за слой.",
             "uz": "Rahmat: xabar qatlam uchun mas'ul shaxsga yuborildi."},
    "open_reports": {"en": "Open problem reports", "ru": "Открытые сообщения о проблемах",
                     "uz": "Ochiq muammo xabarlari"},
    "median_answer": {"en": "median time to an answer", "ru": "медианное время ответа",
                      "uz": "javobning o'rtacha vaqti"},
    "hours": {"en": "h", "ru": "ч", "uz": "soat"},
}

FREQUENCY = {
    "continual": {"en": "continual", "ru": "непрерывно", "uz": "uzluksiz"},
    "daily": {"en": "daily", "ru": "ежедневно", "uz": "har kuni"},
    "weekly": {"en": "weekly", "ru": "еженедельно", "uz": "har hafta"},
    "fortnightly": {"en": "fortnightly", "ru": "раз в две недели", "uz": "ikki haftada bir"},
    "monthly": {"en": "monthly", "ru": "ежемесячно", "uz": "har oy"},
    "quarterly": {"en": "quarterly", "ru": "ежеквартально", "uz": "har chorakda"},
    "biannually": {"en": "twice a year", "ru": "раз в полгода", "uz": "yarim yilda bir"},
    "annually": {"en": "annually", "ru": "ежегодно", "uz": "har yili"},
    "asNeeded": {"en": "as needed", "ru": "по мере необходимости", "uz": "zarurat bo'yicha"},
    "irregular": {"en": "irregular", "ru": "нерегулярно", "uz": "notekis"},
    "notPlanned": {"en": "not planned", "ru": "не планируется", "uz": "rejalashtirilmagan"},
    "unknown": {"en": "unknown", "ru": "неизвестно", "uz": "noma'lum"},
}


def texts(values: dict[str, str] | None, fallback: str = "") -> dict[str, str]:
    """A value in every language, falling back to English, then to any, then to ``fallback``."""
    values = {k: v for k, v in (values or {}).items() if v}
    first = values.get("en") or next(iter(values.values()), fallback)
    return {lang: values.get(lang) or first for lang in LANGS}
