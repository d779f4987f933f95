"""Logging in, registering, second factors and step-up: what the login pages ask the domain.

Every method returns a result object instead of raising for a wrong password or code, so the
caller's transaction keeps the failure counters, OTP attempts and journal entries. Messages for
failures never say whether an account, a phone or a lock exists.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar

import anyio.to_thread
from sqlmodel import Session, select

from core import clock
from core.audit import Journal
from core.pii import PiiVault
from identity import totp
from identity.accounts import AccountExists, Accounts, LoginOutcome, check_password_rules, normalize_username
from identity.errors import IdentityError, VerificationFailed
from identity.levels import Level, Method
from identity.models import AccountRecord
from identity.numbers import mask_id_number, mask_phone, normalize_phone, validate_id_number
from identity.otp import OtpService
from identity.registry import Registry
from identity.sessions import ProviderSession, Sessions, session_acr
from identity.sources import PersonOutcome, PersonQuery, Sources
from identity.sources.base import normalize_name
from identity.throttle import Throttle
from identity.tickets import BadTicket, Tickets

__all__ = ["Established", "Login", "LoginFailed", "NeedSecondFactor"]

T = TypeVar("T")

MFA_TICKET_TTL: Final = timedelta(minutes=5)
REGISTER_TICKET_TTL: Final = timedelta(minutes=15)
TOTP_SETUP_TTL: Final = timedelta(minutes=10)


@dataclass(frozen=True)
class Established:
    """A new (or stepped-up) session; ``cookie`` is the value for the session cookie."""

    cookie: str
    session: ProviderSession


@dataclass(frozen=True)
class NeedSecondFactor:
    ticket: str


@dataclass(frozen=True)
class LoginFailed:
    reason: str  # for tests and the journal; the page shows one generic message


class Login:
    def __init__(
        self,
        session_factory: Callable[[], Any],
        accounts: Accounts,
        registry: Registry,
        sessions: Sessions,
        otp: OtpService,
        tickets: Tickets,
        journal: Journal,
        pii: PiiVault,
        sources: Callable[[], Sources],
    ) -> None:
        self._sessions_db = session_factory
        self.accounts = accounts
        self.registry = registry
        self.sessions = sessions
        self.otp = otp
        self.tickets = tickets
        self.journal = journal
        self._pii = pii
        self._sources = sources
        #: per client address: 20 password / code attempts a minute
        self.throttle = Throttle(limit=20, window_seconds=60)

    def _established(self, session: Session, account_id: str, amr: frozenset[str], how: str) -> Established:
        cookie, ps = self.sessions.create(session, account_id, amr)
        self.journal.append(
            session,
            actor=f"account:{account_id}",
            action="identity.login",
            target=account_id,
            data={"method": how, "amr": sorted(amr), "sid": ps.sid},
        )
        return Established(cookie, ps)

    # -- password (+ TOTP) ---------------------------------------------------------------------

    def password(
        self, session: Session, username: str, password: str, address: str
    ) -> Established | NeedSecondFactor | LoginFailed:
        self.throttle.hit(f"login:{address}")
        result = self.accounts.check_password(session, username, password)
        if result.outcome is LoginOutcome.FAILED or result.account_id is None:
            return LoginFailed("locked" if result.locked else "bad_credentials")
        if result.outcome is LoginOutcome.NEEDS_TOTP:
            ticket = self.tickets.seal("login-mfa", {"a": result.account_id, "m": "pwd"}, MFA_TICKET_TTL)
            return NeedSecondFactor(ticket)
        return self._established(session, result.account_id, frozenset({"pwd"}), "pwd")

    def second_factor(self, session: Session, ticket: str, code: str, address: str) -> Established | LoginFailed:
        self.throttle.hit(f"login:{address}")
        try:
            data = self.tickets.open("login-mfa", ticket)
        except BadTicket:
            return LoginFailed("bad_ticket")
        account = self.accounts.get(session, str(data["a"]))
        if not self._check_totp(session, account.id, code):
            self.journal.append(
                session,
                actor=f"account:{account.id}",
                action="identity.login.failed",
                target=account.id,
                data={"method": "otp"},
            )
            return LoginFailed("bad_code")
        return self._established(session, account.id, frozenset({"pwd", "otp", "mfa"}), "pwd+totp")

    def _check_totp(self, session: Session, account_id: str, code: str) -> bool:
        account = self.accounts.get(session, account_id)
        if not account.totp_enabled or account.totp_secret_enc is None:
            return False
        secret = self._pii.decrypt("totp", account.totp_secret_enc)
        step = totp.verify(secret, code, clock.now(), account.totp_last_step)
        if step is None:
            return False
        account.totp_last_step = step
        session.add(account)
        return True

    # -- SMS -------------------------------------------------------------------------------------

    def send_login_code(self, session: Session, phone: str, address: str) -> None:
        """Send a login code if an account has this phone; the caller cannot tell either way."""
        self.throttle.hit(f"sms:{address}")
        number = normalize_phone(phone)
        if self.accounts.by_phone(session, number) is not None:
            self.otp.send(session, number, "login")

    def sms_ticket(self, phone: str) -> tuple[str, str]:
        """The phone of a pending SMS login, sealed for the next form (pages never echo numbers)."""
        number = normalize_phone(phone)
        return self.tickets.seal("sms-login", {"ph": number}, MFA_TICKET_TTL), mask_phone(number)

    def sms_phone(self, ticket: str) -> tuple[str, str]:
        number = str(self.tickets.open("sms-login", ticket)["ph"])
        return number, mask_phone(number)

    def sms(self, session: Session, phone: str, code: str, address: str) -> Established | LoginFailed:
        self.throttle.hit(f"login:{address}")
        try:
            number = normalize_phone(phone)
        except IdentityError:
            return LoginFailed("bad_phone")
        account = self.accounts.by_phone(session, number)
        if account is None or not account.active or self.accounts.is_locked(account):
            return LoginFailed("bad_code")
        if not self.otp.check(session, number, "login", code):
            self.journal.append(
                session,
                actor=f"account:{account.id}",
                action="identity.login.failed",
                target=account.id,
                data={"method": "sms"},
            )
            return LoginFailed("bad_code")
        return self._established(session, account.id, frozenset({"sms", "otp"}), "sms")

    # -- step-up ---------------------------------------------------------------------------------

    def stepup_options(self, session: Session, account_id: str) -> dict[str, Any]:
        account = self.accounts.get(session, account_id)
        phone = self.accounts.phone(account)
        return {"totp": account.totp_enabled, "sms": phone is not None, "phone": mask_phone(phone) if phone else None}

    def send_stepup_code(self, session: Session, account_id: str) -> None:
        account = self.accounts.get(session, account_id)
        phone = self.accounts.phone(account)
        if phone is None:
            raise VerificationFailed("stepup", "phone_missing", "the account has no phone for a code")
        self.otp.send(session, phone, "stepup")

    def step_up(
        self, session: Session, cookie: str, account_id: str, method: str, code: str
    ) -> Established | LoginFailed:
        """Add a second factor to the current session (TOTP or an SMS code to the account phone)."""
        if method == "totp":
            ok = self._check_totp(session, account_id, code)
            amr = frozenset({"otp", "mfa"})
        else:
            account = self.accounts.get(session, account_id)
            phone = self.accounts.phone(account)
            ok = phone is not None and self.otp.check(session, phone, "stepup", code)
            amr = frozenset({"sms", "otp", "mfa"})
        if not ok:
            self.journal.append(
                session,
                actor=f"account:{account_id}",
                action="identity.stepup.failed",
                target=account_id,
                data={"method": method},
            )
            return LoginFailed("bad_code")
        ps = self.sessions.step_up(session, cookie, amr)
        if ps is None:
            return LoginFailed("no_session")
        self.journal.append(
            session,
            actor=f"account:{account_id}",
            action="identity.stepup",
            target=account_id,
            data={"method": method, "amr": sorted(ps.amr)},
        )
        return Established(cookie, ps)

    def acr(self, session: Session, ps: ProviderSession) -> Level | None:
        return session_acr(self.registry.level(session, ps.account_id), ps.amr)

    # -- TOTP enrolment --------------------------------------------------------------------------

    def totp_begin(self, account_username: str) -> tuple[str, str, str]:
        """A new secret: (ticket carrying it, base32 secret to type in, otpauth URI for a QR code)."""
        secret = totp.new_secret()
        ticket = self.tickets.seal("totp-setup", {"s": secret, "u": account_username}, TOTP_SETUP_TTL)
        return ticket, secret, totp.otpauth_uri(secret, account_username)

    def totp_confirm(self, session: Session, account_id: str, ticket: str, code: str) -> bool:
        account = self.accounts.get(session, account_id)
        data = self.tickets.open("totp-setup", ticket)
        if data.get("u") != account.username:
            raise BadTicket("the ticket is for another account")
        step = totp.verify(str(data["s"]), code, clock.now(), 0)
        if step is None:
            return False
        account.totp_secret_enc = self._pii.encrypt("totp", str(data["s"]))
        account.totp_enabled, account.totp_last_step, account.updated_at = True, step, clock.now()
        session.add(account)
        self.journal.append(
            session, actor=f"account:{account_id}", action="identity.totp.enable", target=account_id, data={}
        )
        return True

    def totp_disable(self, session: Session, account_id: str, code: str) -> bool:
        if not self._check_totp(session, account_id, code):
            return False
        account = self.accounts.get(session, account_id)
        account.totp_enabled, account.totp_secret_enc, account.updated_at = False, None, clock.now()
        session.add(account)
        self.journal.append(
            session, actor=f"account:{account_id}", action="identity.totp.disable", target=account_id, data={}
        )
        return True

    # -- registration --------------------------------------------------------------------------

    def register_start(self, session: Session, form: dict[str, str], address: str) -> str:
        """Validate the registration form, send a code to the phone; returns the ticket for step 2.

        Everything is checked that can be without a source: user name free and well-formed,
        password rules, name, citizen ID number (GB 11643), phone, no other account with this
        phone or ID number.
        """
        self.throttle.hit(f"sms:{address}")
        username = normalize_username(form.get("username", ""))
        password = form.get("password", "")
        check_password_rules(password, username)
        if password != form.get("password2", password):
            raise VerificationFailed("register", "password_mismatch", "the two passwords differ")
        name = normalize_name(form.get("name", ""), "name")
        id_number = validate_id_number(form.get("id_number", ""))
        phone = normalize_phone(form.get("phone", ""))
        if self.accounts.by_username(session, username) is not None:
            raise AccountExists(f"user name {username!r} is taken", field="username")
        if self.accounts.by_phone(session, phone) is not None:
            raise AccountExists("this phone number is registered to another account", field="phone")
        existing = self.registry.person_by_id_number(session, id_number)
        if existing is not None and self._person_taken(session, existing.id):
            raise AccountExists("this citizen ID number is registered to another account", field="id_number")
        self.otp.send(session, phone, "register")
        return self.tickets.seal(
            "register",
            {"u": username, "pw": password, "n": name, "id": id_number, "ph": phone},
            REGISTER_TICKET_TTL,
        )

    def _person_taken(self, session: Session, person_id: str) -> bool:
        return session.exec(select(AccountRecord).where(AccountRecord.person_id == person_id)).first() is not None

    def register_view(self, ticket: str) -> dict[str, str]:
        """What step 2 may show about the pending registration (masked)."""
        data = self.tickets.open("register", ticket)
        return {
            "username": data["u"],
            "name": data["n"],
            "id_number": mask_id_number(data["id"]),
            "phone": mask_phone(data["ph"]),
        }

    async def register_finish(self, ticket: str, code: str, address: str) -> Established | LoginFailed:
        """Check the person against the population DB, then (one transaction) check the SMS code,
        create the account (L1 by the code), link the person (L2 by the population match), log in.

        A source that gives no answer raises ``SourceUnavailable`` before anything is written.
        """
        self.throttle.hit(f"login:{address}")
        data = self.tickets.open("register", ticket)
        query = PersonQuery(name=data["n"], id_number=data["id"])
        result = await self._sources().population.check(query)
        if result.outcome is not PersonOutcome.MATCH:
            outcome = "not_eligible" if result.outcome is PersonOutcome.DECEASED else "mismatch"

            def denied(session: Session) -> None:
                self.journal.append(
                    session,
                    actor="anonymous",
                    action="identity.verification.denied",
                    target="register",
                    data={
                        "method": Method.POPULATION.value,
                        "outcome": outcome,
                        "id_number": mask_id_number(query.id_number),
                    },
                )

            await self._db(denied)
            raise VerificationFailed(Method.POPULATION.value, outcome)

        def write(session: Session) -> Established | LoginFailed:
            if not self.otp.check(session, data["ph"], "register", code):
                return LoginFailed("bad_code")
            account = self.accounts.create(
                session, data["u"], data["pw"], display_name=data["n"], phone=data["ph"], actor="anonymous"
            )
            self.registry.record_verification(
                session,
                account.id,
                level=Level.L1,
                method=Method.PHONE_OTP,
                source="sms",
                evidence_ref=f"sms:{mask_phone(data['ph'])}",
                person_id=None,
                actor=f"account:{account.id}",
            )
            person = self.registry.link_person(
                session, account, query.name, query.id_number, data["ph"], actor=f"account:{account.id}"
            )
            self.registry.record_verification(
                session,
                account.id,
                level=Level.L2,
                method=Method.POPULATION,
                source="population",
                evidence_ref=f"population:{secrets.token_hex(10)}",
                person_id=person.id,
                actor=f"account:{account.id}",
                data={"id_number": mask_id_number(query.id_number)},
            )
            return self._established(session, account.id, frozenset({"pwd", "sms", "otp", "mfa"}), "register")

        return await self._db(write)

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._sessions_db() as session:
                return fn(session)

        return await anyio.to_thread.run_sync(run)
