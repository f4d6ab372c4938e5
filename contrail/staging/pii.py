"""Which columns of a dump look personal: by their names, as real schemas write them, and by a sample of
their values. A column found here without an anonymise rule stops a refresh (a false positive costs one
`keep` rule; a false negative leaks).

Names are split into words (snake_case, camelCase, kebab-case, digits) and every word and every run of up
to three adjacent words is looked up in a vocabulary of personal terms in several languages and their
usual abbreviations (`custEmailAddr2`, `e_mail`, `tel_no`, `dob`, `vorname`, `ipAddress`). Whole words
only: `shipping` does not hold `ip`.

Values are checked with maintained validators rather than patterns alone: `phonenumbers` (Google's
libphonenumber: is it a possible number, in international form or for the country given), `python-stdnum`
(IBAN and payment card numbers by their checksums), the standard library's `ipaddress`; emails by their
shape; dates by a plausible birth range; postal addresses by a number and a street word; people's names
by a first name from the project's frozen name list followed by a capitalised word.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable

import phonenumbers
from stdnum import iban, luhn

from contrail.staging import namelists

# Personal terms, each as one word once a name's words are joined ("first_name" → "firstname").
_TERMS = """
    email mail emailaddress emailaddr mailaddress courriel correo
    name firstname lastname fullname surname familyname givenname forename middlename maidenname nickname
    username displayname contactname customername holdername cardholder fname lname
    vorname nachname nom prenom nombre apellido
    phone telephone tel mobile cell cellphone fax msisdn phonenumber phoneno mobileno telno contactno
    telefon telefono handy
    address addr street streetaddress addressline addrline city town zip zipcode postcode postalcode plz
    housenumber adresse strasse direccion
    dob birthdate birthday dateofbirth bday geburtsdatum
    ssn socialsecurity nationalid nin nino passport passportno taxid tin driverslicense licenseno
    iban accountnumber acctno cardnumber ccnumber ccnum creditcard pan cvv cvc sortcode routingnumber
    ip ipaddr ipaddress remoteaddr remoteip clientip lastip macaddress
    latitude longitude lat lng geolocation
    password passwd pwd secret token apikey
"""
VOCABULARY = frozenset(_TERMS.split())
SAMPLE = 200  # values read per column
SHARE = 0.1  # of the sampled values that must look personal (at least two)

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_STREET = re.compile(
    r"\b\d{1,5}[a-z]?,?\s+(?:\w+\s+){0,3}(street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|boulevard|blvd|"
    r"court|ct|place|pl|square|sq|terrace|close|crescent|straße|strasse|weg|rue|calle|via)\b",
    re.I,
)
_NUMBERS = re.compile(r"\+?\d[\d ()./-]{6,}\d")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def words(column: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(column)]


def name_looks_personal(column: str) -> bool:
    parts = [w for w in words(column) if not w.isdigit()]
    for size in (1, 2, 3):
        for start in range(len(parts) - size + 1):
            if "".join(parts[start : start + size]) in VOCABULARY:
                return True
    return False


def _is_phone(text: str) -> bool:
    for candidate in _NUMBERS.findall(text):
        digits = re.sub(r"\D", "", candidate)
        if not (9 if not candidate.startswith("+") else 7) <= len(digits) <= 15 or _ISO_DATE.match(candidate):
            continue
        for region in (None, "US", "GB", "DE", "FR"):
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
    return False


def _is_card_or_iban(text: str) -> bool:
    for token in re.findall(r"[A-Z]{2}\d{2}[A-Z0-9 ]{10,30}|\d[\d -]{11,22}\d", text.upper()):
        compact = re.sub(r"[ -]", "", token)
        if compact[:2].isalpha() and iban.is_valid(compact):
            return True
        if compact.isdigit() and 13 <= len(compact) <= 19 and luhn.is_valid(compact) and len(set(compact)) > 1:
            return True
    return False


def _is_ip(text: str) -> bool:
    for token in re.findall(r"[0-9a-fA-F:.]{7,45}", text):
        try:
            address = ipaddress.ip_address(token.strip(".:"))
        except ValueError:
            continue
        if not (address.is_loopback or address.is_unspecified):
            return True
    return False


def _is_birth_date(text: str) -> bool:
    match = _ISO_DATE.match(text.strip())
    if not match:
        return False
    year = int(match.group(1))
    return 1900 <= year <= datetime.date.today().year - 13


def _is_name(text: str) -> bool:
    parts = text.strip().split()
    return 2 <= len(parts) <= 4 and parts[0] in namelists.lists()["first_names"] and parts[-1][:1].isupper()


# The most specific first: a card number or an IP address is also a run of digits a phone parser might take.
DETECTORS: dict[str, Callable[[str], bool]] = {
    "email": lambda text: bool(_EMAIL.search(text)),
    "card or IBAN": _is_card_or_iban,
    "IP address": _is_ip,
    "birth date": _is_birth_date,
    "phone": _is_phone,
    "postal address": lambda text: bool(_STREET.search(text)),
    "person's name": _is_name,
}


def values_look_personal(values: list[str]) -> str | None:
    """What the sampled values of a column hold (e.g. "email"), when enough of them hold it; else None."""
    values = [v for v in values if v and v.strip()]
    if not values:
        return None
    needed = max(2 if len(values) > 1 else 1, int(len(values) * SHARE))
    for kind, detect in DETECTORS.items():
        if sum(1 for v in values if detect(v)) >= needed:
            return kind
    return None
