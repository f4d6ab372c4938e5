"""Personal columns as real schemas name them and as their values show them."""

import pytest

from contrail.staging import pii

# Seen in real schemas (Django, Rails, WordPress, Magento, SAP exports, hand-made ones), none of them in the
# single pattern Contrail used before.
PERSONAL_NAMES = [
    "custEmailAddr2",
    "EMailAdresse",
    "user_email_1",
    "contactEmail",
    "billing_tel_no",
    "MobileNumber",
    "msisdn",
    "fname",
    "LName",
    "given_name",
    "familyName",
    "Vorname",
    "cardholder_name",
    "date_of_birth",
    "bday",
    "ipAddress",
    "last_login_ip",
    "remote_addr",
    "street_address_line1",
    "shipping_postal_code",
    "PLZ",
    "iban_number",
    "cc_number",
    "passport_no",
    "national_id",
    "user_password",
    "api_key",
]
NOT_PERSONAL = ["shipping_method", "total", "created_at", "order_state", "description", "sku", "quantity", "zipped"]


@pytest.mark.parametrize("column", PERSONAL_NAMES)
def test_personal_column_names_as_real_schemas_write_them(column):
    assert pii.name_looks_personal(column), column


@pytest.mark.parametrize("column", NOT_PERSONAL)
def test_ordinary_column_names_are_not_personal(column):
    assert not pii.name_looks_personal(column), column


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["call Anna back: anna.b@shop.org", "no answer", "asked for ben@mail.co.uk"], "email"),
        (['{"contact": "+44 20 7946 0958"}', '{"contact": "+1 415 555 2671"}', "{}"], "phone"),
        (["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"], "card or IBAN"),
        (["paid with 4111 1111 1111 1111", "paid with 5500 0000 0000 0004"], "card or IBAN"),
        (["203.0.113.7", "2001:db8::1", "198.51.100.23"], "IP address"),
        (["1984-03-02", "1991-11-30", "1960-07-14"], "birth date"),
        (["12 Baker Street, London", "221B Baker St", "4 rue de la Paix"], "postal address"),
        (["Anna Smith", "Ben Okafor", "Chloe Rossi"], "person's name"),
    ],
)
def test_values_show_what_a_column_holds(values, kind):
    assert pii.values_look_personal(values) == kind


@pytest.mark.parametrize(
    "values",
    [
        ["order 1", "order 2", "order 3"],
        ["2024-05-01", "2025-01-13"],  # recent dates: created, not born
        ["1234567890123", "0000000000000"],  # numbers that fail the card checksum
        ["red", "green", "blue"],
        ["v1.2.3.4", "release 10.0"],
    ],
)
def test_ordinary_values_are_not_personal(values):
    assert pii.values_look_personal(values) is None
