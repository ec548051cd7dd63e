"""The portal's words in Uzbek (Latin), Russian and English; the language is chosen by
``?lang=``, kept in the session, and otherwise taken from Accept-Language."""

from __future__ import annotations

from geo_publish.publish.viewer.i18n import LANGS, NAMES, UI as VIEWER_UI

_T: dict[str, tuple[str, str, str]] = {  # en, ru, uz
    "portal": ("Publishing portal", "Портал публикации", "Nashr portali"),
    "sign_in": ("Sign in", "Войти", "Kirish"),
    "sign_out": ("Sign out", "Выйти", "Chiqish"),
    "email": ("E-mail", "Эл. почта", "E-pochta"),
    "password": ("Password", "Пароль", "Parol"),
    "your_orgs": ("Your organisations", "Ваши организации", "Tashkilotlaringiz"),
    "collections": ("Layers", "Слои", "Qatlamlar"),
    "jobs": ("Recent uploads", "Последние загрузки", "So'nggi yuklashlar"),
    "new_upload": ("Upload a layer", "Загрузить слой", "Qatlam yuklash"),
    "file": ("File (shapefile in a .zip, GeoJSON, GeoPackage, KML/KMZ, CSV, GeoTIFF)",
             "Файл (shapefile в .zip, GeoJSON, GeoPackage, KML/KMZ, CSV, GeoTIFF)",
             "Fayl (.zip ichida shapefile, GeoJSON, GeoPackage, KML/KMZ, CSV, GeoTIFF)"),
    "collection_id": ("Layer id (lower-case letters, digits, _ and -)",
                      "Идентификатор слоя (строчные латинские буквы, цифры, _ и -)",
                      "Qatlam identifikatori (kichik lotin harflari, raqamlar, _ va -)"),
    "organisation": ("Organisation", "Организация", "Tashkilot"),
    "upload": ("Upload and check", "Загрузить и проверить", "Yuklash va tekshirish"),
    "uploading": ("Uploading", "Загрузка", "Yuklanmoqda"),
    "resuming": ("Resuming the upload", "Продолжение загрузки", "Yuklash davom ettirilmoqda"),
    "status": ("Status", "Статус", "Holat"),
    "queued": ("waiting for its turn", "в очереди", "navbatda"),
    "running": ("being checked", "проверяется", "tekshirilmoqda"),
    "ready": ("checked: review and publish", "проверен: просмотрите и опубликуйте",
              "tekshirildi: ko'rib chiqing va nashr qiling"),
    "rejected": ("rejected", "отклонён", "rad etildi"),
    "failed": ("failed", "ошибка", "xato"),
    "published": ("published", "опубликован", "nashr qilindi"),
    "report": ("What the pipeline found", "Результаты проверки", "Tekshiruv natijalari"),
    "read": ("read", "прочитано", "o'qildi"),
    "published_n": ("to publish", "к публикации", "nashr uchun"),
    "repaired": ("repaired", "исправлено", "tuzatildi"),
    "quarantined": ("quarantined", "в карантине", "karantinda"),
    "encoding": ("Encoding", "Кодировка", "Kodlash"),
    "source_crs": ("Source CRS", "Исходная СК", "Manba koordinatalar tizimi"),
    "transformation": ("Transformation", "Преобразование", "O'zgartirish"),
    "layer": ("Layer in the file", "Слой в файле", "Fayldagi qatlam"),
    "detected_by": ("found from", "определено по", "aniqlangan manba"),
    "problems": ("Problems", "Проблемы", "Muammolar"),
    "problems_map": ("Where the problems are", "Где проблемы", "Muammolar joylashuvi"),
    "warnings": ("Warnings", "Предупреждения", "Ogohlantirishlar"),
    "map_problem": ("The map could not draw this version as styled:",
                    "Карта не смогла показать эту версию в её стиле:",
                    "Xarita bu versiyani uslubi bilan ko'rsata olmadi:"),
    "text_sample": ("Text as it will be published: is it readable?",
                    "Текст, как он будет опубликован: читается ли он?",
                    "Matn nashr qilinadigan ko'rinishda: o'qiladimi?"),
    "text_sample_help": ("The first values with non-Latin or accented letters in each text field. "
                         "Garbled letters mean a wrong encoding: set it below and check again.",
                         "Первые значения с нелатинскими или надстрочными буквами в каждом текстовом поле. "
                         "Нечитаемые буквы означают неверную кодировку: укажите её ниже и проверьте снова.",
                         "Har bir matn maydonidagi lotin bo'lmagan yoki belgili harflar bor birinchi qiymatlar. "
                         "Buzilgan harflar noto'g'ri kodlashni bildiradi: uni quyida ko'rsating va qayta tekshiring."),
    "override": ("Wrong guess? Set it and check again", "Неверно? Укажите и проверьте снова",
                 "Noto'g'ri? Ko'rsating va qayta tekshiring"),
    "auto": ("(detect)", "(определить)", "(aniqlash)"),
    "check_again": ("Check again", "Проверить снова", "Qayta tekshirish"),
    "diff": ("Compared with the published version", "Сравнение с опубликованной версией",
             "Nashr qilingan versiya bilan solishtirish"),
    "added": ("added", "добавлено", "qo'shildi"),
    "removed": ("removed", "удалено", "o'chirildi"),
    "changed": ("changed", "изменено", "o'zgardi"),
    "new_layer": ("A new layer: nothing is published under this id yet.",
                  "Новый слой: под этим идентификатором ещё ничего не опубликовано.",
                  "Yangi qatlam: bu identifikator bilan hali hech narsa nashr qilinmagan."),
    "no_id_field": ("Set the id field in the passport to compare feature by feature.",
                    "Укажите поле идентификатора, чтобы сравнивать по объектам.",
                    "Obyektlar bo'yicha solishtirish uchun identifikator maydonini ko'rsating."),
    "title": ("Title", "Название", "Nomi"),
    "description": ("Description", "Описание", "Tavsif"),
    "responsible_name": ("Responsible person", "Ответственное лицо", "Mas'ul shaxs"),
    "responsible_email": ("Their e-mail", "Его эл. почта", "Uning e-pochtasi"),
    "phone": ("Phone", "Телефон", "Telefon"),
    "license": ("Licence", "Лицензия", "Litsenziya"),
    "frequency": ("Update frequency", "Периодичность обновления", "Yangilanish davriyligi"),
    "lineage": ("Lineage (where the data come from)", "Происхождение данных",
                "Ma'lumotlar kelib chiqishi"),
    "reports": ("Problem reports", "Сообщения о проблемах", "Muammo haqida xabarlar"),
    "category": ("Category", "Категория", "Toifa"),
    "answer": ("Answer", "Ответ", "Javob"),
    "save_answer": ("Answer and set the status", "Ответить и изменить статус",
                    "Javob berish va holatni o'zgartirish"),
    "fixed_in": ("Fixed in version", "Исправлено в версии", "Versiyada tuzatildi"),
    "acknowledged": ("acknowledged", "принято", "qabul qilindi"),
    "fixed": ("fixed", "исправлено", "tuzatildi"),
    "declined": ("declined", "отклонено", "rad etildi"),
    "open": ("open", "открыто", "ochiq"),
    "keywords": ("Keywords (comma-separated)", "Ключевые слова (через запятую)",
                 "Kalit so'zlar (vergul bilan)"),
    "id_field": ("Id field (for the diff and for editing)", "Поле идентификатора",
                 "Identifikator maydoni"),
    "publish": ("Publish", "Опубликовать", "Nashr qilish"),
    "history": ("Versions", "Версии", "Versiyalar"),
    "rollback": ("Publish this version again", "Вернуть эту версию", "Shu versiyani qaytarish"),
    "pruned": ("Features no longer kept", "Объекты больше не хранятся", "Obyektlar endi saqlanmaydi"),
    "current": ("published now", "опубликована сейчас", "hozir nashr qilingan"),
    "draft": ("draft", "черновик", "qoralama"),
    "members": ("People", "Сотрудники", "Xodimlar"),
    "role": ("Role", "Роль", "Rol"),
    "publisher": ("publisher", "публикатор", "nashr qiluvchi"),
    "admin": ("organisation admin", "администратор организации", "tashkilot administratori"),
    "add_person": ("Add a person", "Добавить сотрудника", "Xodim qo'shish"),
    "name": ("Name", "Имя", "Ism"),
    "tokens": ("API tokens", "API-токены", "API tokenlari"),
    "new_token": ("New token", "Новый токен", "Yangi token"),
    "token_once": ("Copy it now: it is shown only once.",
                   "Скопируйте сейчас: он показывается один раз.",
                   "Hozir nusxa oling: u faqat bir marta ko'rsatiladi."),
    "forgot": ("Forgot your password?", "Забыли пароль?", "Parolni unutdingizmi?"),
    "send_link": ("Send me a link to set a password", "Прислать ссылку для нового пароля",
                  "Yangi parol uchun havola yuborish"),
    "link_sent": ("If an account has this address, a link to set a new password was sent to it. "
                  "It works once, for 2 hours.",
                  "Если у этого адреса есть учётная запись, на него отправлена ссылка для нового "
                  "пароля. Она действует один раз, 2 часа.",
                  "Agar bu manzilda hisob bo'lsa, unga yangi parol uchun havola yuborildi. "
                  "U bir marta, 2 soat ishlaydi."),
    "no_mail": ("Mail is not set up on this server: ask your organisation's administrator.",
                "На этом сервере не настроена почта: обратитесь к администратору организации.",
                "Bu serverda pochta sozlanmagan: tashkilotingiz administratoriga murojaat qiling."),
    "new_password": ("New password", "Новый пароль", "Yangi parol"),
    "again": ("The same again", "Ещё раз", "Yana bir bor"),
    "set_password": ("Set the password", "Задать пароль", "Parolni o'rnatish"),
    "password_set": ("Your password is set. Sign in with it.", "Пароль задан. Войдите с ним.",
                     "Parolingiz o'rnatildi. U bilan kiring."),
    "not_same": ("The two passwords differ.", "Пароли не совпадают.", "Ikki parol bir xil emas."),
    "invited": ("An invitation to set their password was sent to", "Приглашение задать пароль отправлено на",
                "Parol o'rnatish taklifi yuborildi:"),
    "mail_invite_subject": ("Your account on the publishing portal", "Ваша учётная запись на портале публикации",
                            "Nashr portalidagi hisobingiz"),
    "mail_invite": ("You have an account on the publishing portal. Set your password here "
                    "(the link works once, for 72 hours):",
                    "Для вас создана учётная запись на портале публикации. Задайте пароль здесь "
                    "(ссылка действует один раз, 72 часа):",
                    "Siz uchun nashr portalida hisob ochildi. Parolingizni shu yerda o'rnating "
                    "(havola bir marta, 72 soat ishlaydi):"),
    "mail_reset_subject": ("A new password for the publishing portal", "Новый пароль для портала публикации",
                           "Nashr portali uchun yangi parol"),
    "mail_reset": ("Someone (you, we hope) asked for a new password. Set it here (the link works "
                   "once, for 2 hours); if it was not you, do nothing:",
                   "Кто-то (надеемся, вы) запросил новый пароль. Задайте его здесь (ссылка "
                   "действует один раз, 2 часа); если это были не вы, ничего не делайте:",
                   "Kimdir (umid qilamizki, siz) yangi parol so'radi. Uni shu yerda o'rnating "
                   "(havola bir marta, 2 soat ishlaydi); agar bu siz bo'lmasangiz, hech narsa qilmang:"),
    "password_once": ("Their first password (give it to them; shown only once):",
                      "Первый пароль (передайте сотруднику; показывается один раз):",
                      "Birinchi parol (xodimga bering; faqat bir marta ko'rsatiladi):"),
    "revoke": ("Revoke", "Отозвать", "Bekor qilish"),
    "days": ("Days valid", "Срок (дней)", "Amal qilish muddati (kun)"),
    "expires": ("expires", "истекает", "tugaydi"),
    "last_used": ("last used", "использован", "oxirgi foydalanish"),
    "revoked": ("revoked", "отозван", "bekor qilingan"),
    "audit": ("Audit log", "Журнал действий", "Amallar jurnali"),
    "when": ("When", "Когда", "Qachon"),
    "sessions": ("Where you are signed in", "Где выполнен вход", "Qayerda tizimga kirgansiz"),
    "sessions_help": ("Each browser signed in to your account. End any you do not recognise; "
                      "a new password ends them all.",
                      "Каждый браузер, в котором выполнен вход в вашу учётную запись. Завершите незнакомые; "
                      "новый пароль завершает все.",
                      "Hisobingizga kirilgan har bir brauzer. Tanimaganlaringizni tugating; "
                      "yangi parol hammasini tugatadi."),
    "started": ("Signed in", "Вход", "Kirish"),
    "last_seen": ("Last active", "Последняя активность", "Oxirgi faollik"),
    "browser": ("Browser", "Браузер", "Brauzer"),
    "this_session": ("this browser", "этот браузер", "shu brauzer"),
    "end_session": ("Sign out there", "Завершить", "Tugatish"),
    "end_sessions": ("End all sessions", "Завершить все сеансы", "Barcha seanslarni tugatish"),
    "sessions_ended": ("All sessions ended", "Все сеансы завершены", "Barcha seanslar tugatildi"),
    "who": ("Who", "Кто", "Kim"),
    "what": ("What", "Что", "Nima"),
    "address": ("Address", "Адрес", "Manzil"),
    "version": ("Version", "Версия", "Versiya"),
    "checksum": ("Checksum", "Контрольная сумма", "Nazorat summasi"),
    "see_api": ("In the API", "В API", "API'da"),
    "see_map": ("On the map", "На карте", "Xaritada"),
    "none": ("None yet.", "Пока нет.", "Hozircha yo'q."),
    "required": ("required", "обязательно", "majburiy"),
    "back": ("Back", "Назад", "Orqaga"),
}

T: dict[str, dict[str, str]] = {
    key: dict(zip(("en", "ru", "uz"), v, strict=True)) for key, v in _T.items()
}
T["passport"] = VIEWER_UI["passport"]


def pick(accept_language: str, chosen: str | None) -> str:
    if chosen in LANGS:
        return chosen  # type: ignore[return-value]
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGS:
            return tag
    return "en"


__all__ = ["LANGS", "NAMES", "T", "pick"]
