"""What each kind of import can fill, and a first guess of the mapping from the header.

The guess reads Russian and English column names as people write them in spreadsheets
("Телефон", "E-mail", "ФИО", "Сумма, ₽"); the owner corrects it on the mapping step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import ImportKind

CONTACT_FIELDS: dict[str, Promise] = {
    "phone": gettext_lazy("phone"),
    "email": gettext_lazy("e-mail"),
    "name": gettext_lazy("full name"),
    "last_name": gettext_lazy("last name"),
    "first_name": gettext_lazy("first name"),
    "patronymic": gettext_lazy("patronymic"),
    "company": gettext_lazy("company"),
    "consent": gettext_lazy("consent to offers (channels or yes/no)"),
    "source": gettext_lazy("lead source"),
    "seller": gettext_lazy("seller"),
}
PURCHASE_FIELDS: dict[str, Promise] = {
    "date": gettext_lazy("date of the purchase"),
    "amount": gettext_lazy("amount"),
    "on_promotion": gettext_lazy("bought on promotion"),
}
DEAL_FIELDS: dict[str, Promise] = {
    "title": gettext_lazy("deal subject"),
    "amount": gettext_lazy("amount"),
    "pipeline": gettext_lazy("pipeline"),
    "stage": gettext_lazy("stage"),
    "date": gettext_lazy("date opened"),
}


def fields_of(kind: str) -> dict[str, Promise]:
    extra = {ImportKind.PURCHASES: PURCHASE_FIELDS, ImportKind.DEALS: DEAL_FIELDS}.get(
        ImportKind(kind), {}
    )
    return {**CONTACT_FIELDS, **extra}


# Fields that must be mapped (besides a way to know the contact).
REQUIRED: dict[str, tuple[str, ...]] = {
    ImportKind.CONTACTS: (),
    ImportKind.PURCHASES: ("date", "amount"),
    ImportKind.DEALS: ("title",),
}
# At least one of these must be mapped: how a row finds or makes its contact.
IDENTITY: dict[str, tuple[str, ...]] = {
    ImportKind.CONTACTS: ("phone", "email", "name", "last_name", "first_name"),
    ImportKind.PURCHASES: ("phone", "email"),
    ImportKind.DEALS: ("phone", "email"),
}

# Header names (lower case, "ё" as "е", only letters and digits kept) → field.
ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("телефон", "тел", "phone", "mobile", "мобильный", "сотовый", "номертелефона",
              "telephone", "tel", "phonenumber", "моб"),
    "email": ("email", "почта", "электроннаяпочта", "mail", "емейл", "емэйл", "эпочта",
              "имейл", "адресэлектроннойпочты"),
    "name": ("фио", "name", "fullname", "клиент", "покупатель", "контакт", "customer",
             "contact", "client", "имяфамилия", "фамилияимя"),
    "last_name": ("фамилия", "lastname", "surname", "familyname"),
    "first_name": ("firstname", "givenname"),
    "patronymic": ("отчество", "patronymic", "middlename"),
    "company": ("компания", "организация", "company", "organization", "organisation", "фирма"),
    "consent": ("согласие", "consent", "подписка", "рассылка", "subscribed", "optin",
                "согласиенарассылку", "marketingconsent"),
    "source": ("источник", "source", "каналпривлечения", "utmsource", "откуда"),
    "seller": ("продавец", "менеджер", "seller", "manager", "ответственный", "owner"),
    "date": ("дата", "date", "датапокупки", "datetime", "датасоздания", "created", "когда",
             "purchasedat", "время"),
    "amount": ("сумма", "amount", "total", "итого", "стоимость", "sum", "price", "цена",
               "бюджет", "budget", "value"),
    "on_promotion": ("акция", "поакции", "promo", "onpromotion", "promotion", "скидка"),
    "title": ("сделка", "название", "title", "subject", "deal", "dealname", "предмет",
              "названиесделки"),
    "pipeline": ("воронка", "pipeline"),
    "stage": ("этап", "стадия", "stage", "статус", "status"),
}
_NOT_WORD = re.compile(r"[^0-9a-zа-я]+")


def _key(header: str) -> str:
    return _NOT_WORD.sub("", header.lower().replace("ё", "е"))


def guess(kind: str, header: Sequence[str]) -> dict[str, str]:
    """Column index (a string) → field, for the columns whose names we recognise."""
    allowed = fields_of(kind)
    keys = [_key(h) for h in header]
    has_last_name = any(k in ALIASES["last_name"] for k in keys)
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for exact in (True, False):
        for index, key in enumerate(keys):
            if str(index) in mapping or not key:
                continue
            field = _field_for(key, exact, has_last_name)
            if field and field in allowed and field not in taken:
                mapping[str(index)] = field
                taken.add(field)
    return mapping


def _field_for(key: str, exact: bool, has_last_name: bool) -> str:
    if key in ("имя", "name") or (key.startswith("имя") and not exact):
        # "Имя" beside a "Фамилия" column is the first name; alone it is the whole name.
        return "first_name" if has_last_name else "name"
    for field, names in ALIASES.items():
        if exact and key in names:
            return field
        if not exact and any(len(n) >= 4 and key.startswith(n) for n in names):
            return field
    return ""


def check(kind: str, mapping: Mapping[str, str], columns: int) -> dict[str, str]:
    """The mapping cleaned (unmapped columns dropped), or a ValidationError saying why not."""
    allowed = fields_of(kind)
    clean: dict[str, str] = {}
    errors: list[str] = []
    for index, field in mapping.items():
        if not field:
            continue
        if field not in allowed:
            errors.append(_("“%(field)s” cannot be imported here.") % {"field": field})
            continue
        if not index.isdigit() or int(index) >= columns:
            errors.append(_("There is no column %(index)s.") % {"index": index})
            continue
        if field in clean.values():
            errors.append(
                _("Two columns are mapped to “%(field)s”.") % {"field": allowed[field]}
            )
            continue
        clean[index] = field
    mapped = set(clean.values())
    for field in REQUIRED[kind]:
        if field not in mapped:
            errors.append(_("Map a column to “%(field)s”.") % {"field": allowed[field]})
    identity = IDENTITY[kind]
    if not mapped & set(identity):
        errors.append(
            _("Map at least one of: %(fields)s.")
            % {"fields": ", ".join(str(allowed[f]) for f in identity)}
        )
    if errors:
        raise ValidationError(errors)
    return clean
