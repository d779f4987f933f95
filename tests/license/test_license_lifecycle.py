"""Revoke, suspend, resume, correct: status changes are visible at once, everywhere."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from licence_helpers import (
    FOOD,
    ISSUER,
    OPERATOR,
    QUALIFICATION,
    correct,
    food_data,
    issue,
    journal_actions,
    person_data,
    stored_state,
    trust_certs,
)

from api.demo import DEMO_LICENCE_NUMBER
from core import clock
from identity.sources.demo import DEMO_COMPANY
from license.errors import InvalidLicenseData, InvalidStatusChange, LicenseNotFound
from license.identifier import parse_identifier
from license.qr import LicenseStatus, lookup_status, verify_payload
from license.service import Caller, LicenseService, SearchFilters
from license.values import today_in_china

OTHER_ISSUER = Caller("client:other", issuer_code=DEMO_COMPANY.uscc)


def _live(services: Any, identifier: str) -> Any:
    with services.db.session() as s:  # a fresh transaction, as another process would read
        return lookup_status(s, identifier)


def test_revoke_is_final_and_visible_at_once(licensing: LicenseService, services: Any) -> None:
    view = issue(licensing, QUALIFICATION, person_data())
    with services.db.session() as s:
        out = licensing.change_status(s, ISSUER, view.id, "revoke", "证书持有人资格被撤销")
    assert out.status is LicenseStatus.REVOKED
    live = _live(services, view.identifier)
    assert live.status is LicenseStatus.REVOKED and live.status_reason == "证书持有人资格被撤销"
    assert (live.seal_id, live.seal_name, live.signing_time) == (view.seal_id, view.seal_name, view.signing_time)
    # the QR code still verifies offline (it is genuine) but the live status says revoked
    claims = verify_payload(view.qr_payload, trust_certs(services))
    assert live.matches(claims)
    with services.db.session() as s, pytest.raises(InvalidStatusChange):
        licensing.change_status(s, ISSUER, view.id, "resume", None)
    with services.db.session() as s, pytest.raises(InvalidStatusChange):
        licensing.change_status(s, ISSUER, view.id, "revoke", "again")
    assert [a for a, _, _ in journal_actions(services)][-2:] == ["license.issue", "license.revoke"]


def test_suspend_and_resume(licensing: LicenseService, services: Any) -> None:
    view = issue(licensing, FOOD, food_data())
    with services.db.session() as s:
        licensing.change_status(s, ISSUER, view.id, "suspend", "责令停业整顿")
    assert _live(services, view.identifier).status is LicenseStatus.SUSPENDED
    with services.db.session() as s:
        licensing.change_status(s, OPERATOR, view.id, "resume", None)
    assert _live(services, view.identifier).status is LicenseStatus.VALID
    actions = [a for a, _, _ in journal_actions(services)]
    assert actions[-2:] == ["license.suspend", "license.resume"]


def test_status_change_needs_a_reason_and_the_right_issuer(licensing: LicenseService, services: Any) -> None:
    view = issue(licensing, FOOD, food_data())
    before = stored_state(services)
    with services.db.session() as s, pytest.raises(InvalidLicenseData):
        licensing.change_status(s, ISSUER, view.id, "revoke", "   ")
    with services.db.session() as s, pytest.raises(InvalidLicenseData):
        licensing.change_status(s, ISSUER, view.id, "revoke", "x" * 201)
    with services.db.session() as s, pytest.raises(LicenseNotFound):
        licensing.change_status(s, OTHER_ISSUER, view.id, "revoke", "not mine")
    with services.db.session() as s, pytest.raises(LicenseNotFound):
        licensing.change_status(s, ISSUER, "0" * 32, "revoke", "no such licence")
    assert stored_state(services) == before
    assert _live(services, view.identifier).status is LicenseStatus.VALID


def test_correction_supersedes_the_old_version(licensing: LicenseService, services: Any) -> None:
    v1 = issue(licensing, QUALIFICATION, person_data())
    v2 = correct(licensing, v1.id, person_data(level="二级/技师"))
    p1, p2 = parse_identifier(v1.identifier), parse_identifier(v2.identifier)
    assert (p2.serial, p2.version) == (p1.serial, 2) and v2.identifier != v1.identifier
    assert v2.number == v1.number and v2.previous_id == v1.id and v2.data["level"] == "二级/技师"
    old = _live(services, v1.identifier)
    assert old.status is LicenseStatus.SUPERSEDED and old.current_identifier == v2.identifier
    assert _live(services, v2.identifier).status is LicenseStatus.VALID
    # both QR codes are genuine; only the new one is current
    assert verify_payload(v2.qr_payload, trust_certs(services)).version == 2
    with services.db.session() as s:
        assert licensing.get(s, ISSUER, v1.id).superseded_by == v2.id
        page = licensing.search(s, ISSUER, SearchFilters(current_only=True, type_code=QUALIFICATION))
        current = [v.id for v in page.items]
        assert v2.id in current and v1.id not in current
    # a superseded version cannot be corrected, suspended or revoked again
    with pytest.raises(InvalidStatusChange):
        correct(licensing, v1.id, person_data())
    with services.db.session() as s, pytest.raises(InvalidStatusChange):
        licensing.change_status(s, ISSUER, v1.id, "suspend", "x")
    assert [a for a, _, _ in journal_actions(services)][-1] == "license.correct"


def test_correction_cannot_change_holder_or_number(licensing: LicenseService, services: Any) -> None:
    v1 = issue(licensing, FOOD, food_data("JY21201160000042"))
    before = stored_state(services)
    with pytest.raises(InvalidLicenseData) as info:
        correct(licensing, v1.id, food_data("JY21201160000043"))
    assert [(e.field, e.code) for e in info.value.errors] == [("licence_no", "mismatch")]
    with pytest.raises(InvalidLicenseData):
        correct(licensing, v1.id, food_data("JY21201160000042", uscc="91120104MA05D2E23F"))
    with pytest.raises(LicenseNotFound):
        correct(licensing, v1.id, food_data("JY21201160000042"), caller=OTHER_ISSUER)
    assert stored_state(services) == before


def test_expired_is_derived_from_the_end_date(licensing: LicenseService, services: Any) -> None:
    end = today_in_china() + timedelta(days=10)
    view = issue(licensing, FOOD, food_data(valid_until=end.isoformat()))
    with services.db.session() as s:
        assert lookup_status(s, view.identifier, today=end).status is LicenseStatus.VALID
        assert lookup_status(s, view.identifier, today=end + timedelta(days=1)).status is LicenseStatus.EXPIRED
    later = clock.now() + timedelta(days=11)
    with clock.frozen(later), services.db.session() as s:
        assert licensing.get(s, ISSUER, view.id).status is LicenseStatus.EXPIRED
        expired = licensing.search(s, ISSUER, SearchFilters(status=LicenseStatus.EXPIRED))
        valid = licensing.search(s, ISSUER, SearchFilters(status=LicenseStatus.VALID))
    assert [v.id for v in expired.items] == [view.id] and view.id not in [v.id for v in valid.items]


def test_unknown_identifier_has_unknown_status(services: Any) -> None:
    live = _live(services, "1.2.156.3005.2.11120000000002022H001.11120000MB0000019W.2099000001.001.0")
    assert live.status is LicenseStatus.UNKNOWN and not live.found
    assert _live(services, "garbage" * 40).status is LicenseStatus.UNKNOWN


def test_search_filters(licensing: LicenseService, services: Any) -> None:
    a = issue(licensing, FOOD, food_data("JY21201160000101"))
    b = issue(licensing, QUALIFICATION, person_data())
    with services.db.session() as s:
        by_type = licensing.search(s, ISSUER, SearchFilters(type_code=FOOD))
        by_holder = licensing.search(
            s,
            ISSUER,
            SearchFilters(holder_kind="person", holder_code=" 120101199001011239 "),  # type: ignore[arg-type]
        )
        by_number = licensing.search(s, ISSUER, SearchFilters(number="JY21201160000101"))
        by_date = licensing.search(s, ISSUER, SearchFilters(issued_from=date(2000, 1, 1), issued_to=date(2000, 12, 31)))
        everyone = licensing.search(s, OPERATOR, SearchFilters())
        other = licensing.search(s, OTHER_ISSUER, SearchFilters())
    assert [v.id for v in by_type.items] == [a.id]
    assert {v.number for v in by_holder.items} == {b.number, DEMO_LICENCE_NUMBER}  # + the demo licence
    assert [v.id for v in by_number.items] == [a.id]
    assert by_date.total == 0
    assert {a.id, b.id} <= {v.id for v in everyone.items}
    assert other.total == 0  # another department sees none of these
    with pytest.raises(InvalidLicenseData):
        SearchFilters(limit=0)
    with pytest.raises(InvalidLicenseData):
        SearchFilters(issued_from=date(2024, 2, 1), issued_to=date(2024, 1, 1))
