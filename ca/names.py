"""Distinguished names: parse ``CN=…,O=…`` text and check them (RFC 5280 §4.1.2.4)."""

from __future__ import annotations

from asn1crypto import x509

from ca.errors import BadName

_SHORT = {
    "C": "country_name",
    "ST": "state_or_province_name",
    "L": "locality_name",
    "O": "organization_name",
    "OU": "organizational_unit_name",
    "CN": "common_name",
    "SERIALNUMBER": "serial_number",
    "GN": "given_name",
    "SN": "surname",
    "UNIQUEIDENTIFIER": "unique_identifier",
}
_MAX = {
    "country_name": 2,
    "common_name": 64,
    "organization_name": 64,
    "organizational_unit_name": 64,
    "serial_number": 64,
    "locality_name": 128,
    "state_or_province_name": 128,
}  # RFC 5280 upper bounds


def parse_dn(text: str) -> dict[str, str]:
    """``"CN=张三,O=示例,C=CN"`` -> asn1crypto attribute dict. Commas inside values: ``\\,``."""
    result: dict[str, str] = {}
    parts, buf, esc = [], "", False
    for ch in text:
        if esc:
            buf += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    for part in parts:
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        attr = _SHORT.get(key.strip().upper())
        if not sep or attr is None:
            raise BadName(f"unsupported attribute {key.strip()[:20]!r} (use C, ST, L, O, OU, CN, SERIALNUMBER)")
        if attr in result:
            raise BadName(f"attribute {key.strip()} given twice")
        result[attr] = value.strip()
    return check_attributes(result)


def check_attributes(attrs: dict[str, str]) -> dict[str, str]:
    for attr, value in attrs.items():
        if attr not in _SHORT.values():
            raise BadName(f"unsupported attribute {attr[:40]!r}")
        if not value or any(ord(c) < 0x20 for c in value):
            raise BadName(f"{attr} is empty or holds control characters")
        if len(value) > _MAX.get(attr, 128):
            raise BadName(f"{attr} is longer than {_MAX.get(attr, 128)} characters")
    if "country_name" in attrs and (len(attrs["country_name"]) != 2 or not attrs["country_name"].isalpha()):
        raise BadName("country must be a two-letter ISO 3166 code")
    if not attrs:
        raise BadName("the distinguished name is empty")
    return attrs


def build_name(attrs: dict[str, str]) -> x509.Name:
    return x509.Name.build(check_attributes(dict(attrs)), use_printable=False)


def name_text(name: x509.Name) -> str:
    """RFC 4514-ish one-line form, most significant first (for listings and the audit journal)."""
    rev = {v: k for k, v in _SHORT.items()}
    out = []
    for rdn in name.chosen:
        for ava in rdn:
            key = ava["type"].native
            out.append(f"{rev.get(key, ava['type'].dotted)}={ava['value'].native}")
    return ",".join(out)
