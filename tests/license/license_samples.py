"""Valid sample data for the built-in demo licence types (fictional people and companies)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

BUSINESS = "111200000000010116001"
FOOD = "111200000000010116002"
QUALIFICATION = "11120000000002022H001"
# Fictional codes with valid check characters (GB 32100 / GB 11643), generated for these tests.
ISSUER_USCC = "11120000000003033W"  # the demo department
COMPANY_USCC = "91120101MA06A0007U"
RESTAURANT_USCC = "91120103MA07B0003N"
PERSON_ID = "120101199003071235"


def business_data() -> dict[str, Any]:
    return {
        "uscc": COMPANY_USCC,
        "name": "天津市示例科技有限公司",
        "company_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": "张三",
        "business_scope": "技术开发、技术咨询、技术服务；软件开发；信息系统集成服务。"
        "（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
        "registered_capital": "100",
        "established_on": "2015-03-18",
        "term_until": "",
        "address": "天津市和平区示例路1号",
    }


def food_data() -> dict[str, Any]:
    return {
        "operator_name": "天津市示例餐饮管理有限公司",
        "uscc": RESTAURANT_USCC,
        "legal_representative": "李四",
        "premises": "天津市河西区示例大街88号",
        "main_format": "餐饮服务经营者",
        "business_items": "热食类食品制售；冷食类食品制售；自制饮品制售",
        "licence_no": "JY21201030012345",
        "valid_until": "2029-05-31",
    }


def person_data() -> dict[str, Any]:
    return {
        "name": "王小明",
        "id_number": PERSON_ID,
        "occupation": "电工",
        "level": "三级/高级工",
        "certificate_no": "S000012000001234",
    }


# 24 + 280 = 304 characters: a QR landing URL with a compact signed token in base64url (DESIGN.md).
_TOKEN = base64.urlsafe_b64encode(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(7)))
LONG_QR_TEXT = "http://127.0.0.1:8000/v/" + _TOKEN.decode().rstrip("=")[:280]


def sample_record(license_type: Any, data: dict[str, Any], *, issue: Any = None, serial: str = "2024000001") -> Any:
    """A consistent (identifier, normalised data, metadata) triple for a built-in type."""
    from datetime import UTC, date, datetime

    from license.identifier import IdentifierParts
    from license.metadata import HolderCodeType, LicenseRecord, build_metadata
    from license.types import compute_validity, validate_data

    t = license_type
    values = validate_data(t, data)
    issue_date = issue or date(2024, 6, 1)
    validity = compute_validity(t, values, issue_date)
    identifier = str(IdentifierParts(t.type_code, ISSUER_USCC, serial))
    record = LicenseRecord(
        identifier=identifier,
        number=str(values[t.number_field]) if t.number_field else "120101000012345",
        issuer_name="天津市示例行政审批局",
        issuer_code=ISSUER_USCC,
        issue_date=issue_date,
        holder_name=str(values[t.holder_name_field]),
        holder_code=str(values[t.holder_code_field]),
        holder_code_type=HolderCodeType.for_holder(t.holder_kind),
        valid_from=validity.valid_from,
        valid_to=validity.valid_to,
        seal_name="天津市示例行政审批局电子证照专用章",
        signer="天津市示例行政审批局",
        signing_time=datetime(2024, 6, 1, 2, 0, tzinfo=UTC),
    )
    return identifier, values, build_metadata(t, values, record)
