"""Staff accounts, sign-in and sessions on the real database: what is stored, what is refused."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select

from bot.db.models import AuditEvent, StaffSession, StaffUser
from bot.policy import load_policy
from bot.staff.accounts import StaffError, create_staff, disable_staff, set_password
from bot.staff.passwords import HASHER, verify_password
from bot.staff.sessions import Signed, create_session, find_session, revoke_session
from bot.staff.signin import Reason, Refused, authenticate
from tests.helpers import add_staff

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
POLICY = load_policy()


async def _audit(sessions) -> list[tuple[str, str, str | None]]:
    async with sessions() as s:
        rows = await s.execute(
            select(AuditEvent.kind, AuditEvent.actor, AuditEvent.detail).order_by(AuditEvent.id)
        )
        return [tuple(r) for r in rows]


async def _staff(sessions, username: str) -> StaffUser:
    async with sessions() as s:
        return (await s.execute(select(StaffUser).filter_by(username=username))).scalar_one()


async def _sign_in(sessions, username: str, password: str, at: datetime):
    async with sessions.begin() as s:
        outcome = await authenticate(s, username, password, at, POLICY, source="192.0.2.7")
        return outcome if isinstance(outcome, Refused) else outcome.id


async def test_an_account_keeps_only_an_argon2id_hash(sessions):
    staff_id = await add_staff(sessions, "Alice.M", "agent", now=T0)
    alice = await _staff(sessions, "alice.m")
    assert (alice.id, alice.display_name, alice.role, alice.failed_logins) == (
        staff_id, "alice.m", "agent", 0
    )  # fmt: skip
    assert alice.password_hash.startswith("$argon2id$")
    assert PASSWORD not in alice.password_hash
    assert verify_password(alice.password_hash, PASSWORD)
    assert await _audit(sessions) == [("staff_added", "test", f"staff:{staff_id} alice.m agent")]


@pytest.mark.parametrize(
    ("username", "password", "role", "why"),
    [
        ("al", PASSWORD, "agent", "username 'al' must be 3 to 64 characters"),
        ("a" * 65, PASSWORD, "agent", "must be 3 to 64 characters"),
        ("alice smith", PASSWORD, "agent", "must be 3 to 64 characters of a-z"),
        ("алиса", PASSWORD, "agent", "must be 3 to 64 characters"),
        ("alice", "ninechars", "agent", "the password must be at least 10 characters long"),
        ("alice", PASSWORD, "boss", "role 'boss' must be one of agent, admin"),
    ],
)
async def test_bad_accounts_are_refused(sessions, username, password, role, why):
    async with sessions.begin() as s:
        with pytest.raises(StaffError, match=why):
            await create_staff(s, username, password, role, now=T0, actor="test")
    assert await _audit(sessions) == []


async def test_a_username_is_taken_once_whatever_its_case(sessions):
    await add_staff(sessions, "alice", "agent", now=T0)
    async with sessions.begin() as s:
        with pytest.raises(StaffError, match="username 'alice' is taken"):
            await create_staff(s, "ALICE", PASSWORD, "admin", now=T0, actor="test")


async def test_the_right_password_signs_in_and_is_audited(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    assert await _sign_in(sessions, "Alice ", PASSWORD, T0) == staff_id
    alice = await _staff(sessions, "alice")
    assert (alice.last_login_at, alice.failed_logins) == (T0, 0)
    assert (await _audit(sessions))[1:] == [
        ("staff_signed_in", f"staff:{staff_id}", "from 192.0.2.7")
    ]


async def test_wrong_and_unknown_are_refused_and_the_password_is_never_kept(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    assert await _sign_in(sessions, "alice", "battery horse correct", T0) == Refused(
        Reason.WRONG_PASSWORD
    )
    assert await _sign_in(sessions, "bob", "battery horse correct", T0) == Refused(Reason.UNKNOWN)
    assert (await _staff(sessions, "alice")).failed_logins == 1
    assert (await _audit(sessions))[1:] == [
        ("staff_sign_in_failed", f"staff:{staff_id}", "wrong password; from 192.0.2.7"),
        ("staff_sign_in_failed", "anonymous", "unknown username; from 192.0.2.7"),
    ]


async def test_an_unknown_username_costs_a_password_check_too(sessions):
    await add_staff(sessions, "alice", "agent", now=T0)
    started = time.perf_counter()
    await _sign_in(sessions, "nobody", PASSWORD, T0)
    # One argon2 check takes tens of milliseconds here; a bare lookup takes about one.
    assert time.perf_counter() - started > 0.02


async def test_five_failures_in_a_row_lock_the_account_for_a_while(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    until = T0 + timedelta(minutes=POLICY.handoff.lock_minutes)
    outcomes = [await _sign_in(sessions, "alice", f"wrong {n} password", T0) for n in range(5)]
    assert outcomes == [Refused(Reason.WRONG_PASSWORD)] * 4 + [Refused(Reason.LOCKED, until)]
    # Locked, even the right password is refused until then, and nothing more is counted.
    assert await _sign_in(sessions, "alice", PASSWORD, until - timedelta(seconds=1)) == Refused(
        Reason.LOCKED, until
    )
    alice = await _staff(sessions, "alice")
    assert (alice.locked_until, alice.failed_logins) == (until, 0)
    kinds = [(kind, actor) for kind, actor, _ in await _audit(sessions)]
    assert kinds.count(("staff_locked", f"staff:{staff_id}")) == 1
    assert await _sign_in(sessions, "alice", PASSWORD, until) == staff_id


async def test_a_success_starts_the_count_again(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    for _ in range(4):
        await _sign_in(sessions, "alice", "not the password", T0)
    assert await _sign_in(sessions, "alice", PASSWORD, T0) == staff_id
    for _ in range(4):
        assert await _sign_in(sessions, "alice", "not the password", T0) == Refused(
            Reason.WRONG_PASSWORD
        )


async def test_a_disabled_account_says_so_only_to_its_password(sessions):
    await add_staff(sessions, "alice", "agent", now=T0)
    async with sessions.begin() as s:
        await disable_staff(s, "alice", now=T0, actor="test")
        with pytest.raises(StaffError, match="disabled already"):
            await disable_staff(s, "alice", now=T0, actor="test")
    assert await _sign_in(sessions, "alice", PASSWORD, T0) == Refused(Reason.DISABLED)
    assert await _sign_in(sessions, "alice", "not the password", T0) == Refused(
        Reason.WRONG_PASSWORD
    )


async def test_a_hash_with_old_parameters_is_replaced_at_sign_in(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with sessions.begin() as s:
        (await s.get(StaffUser, staff_id)).password_hash = weak
    assert await _sign_in(sessions, "alice", PASSWORD, T0) == staff_id
    stored = (await _staff(sessions, "alice")).password_hash
    assert stored != weak
    assert extract_parameters(stored) == extract_parameters(HASHER.hash("x"))
    assert verify_password(stored, PASSWORD)


async def test_a_session_is_found_by_its_token_and_only_its_hash_is_stored(sessions):
    staff_id = await add_staff(sessions, "alice", "admin", name="Alice Martin", now=T0)
    async with sessions.begin() as s:
        token, row = await create_session(s, staff_id, now=T0, user_agent="Firefox")
    async with sessions.begin() as s:
        signed = await find_session(s, token, now=T0, policy=POLICY)
        stored = (await s.execute(select(StaffSession))).scalar_one()
    assert signed == Signed(staff_id, "alice", "Alice Martin", "admin", row.id, stored.csrf_token)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (stored.token_hash, stored.csrf_token)
    assert len(token) == len(stored.csrf_token) == 43
    async with sessions.begin() as s:
        assert await find_session(s, token + "x", now=T0, policy=POLICY) is None
        assert await find_session(s, "", now=T0, policy=POLICY) is None


async def test_a_session_ends_when_idle_and_is_touched_at_most_once_a_minute(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    idle = timedelta(minutes=POLICY.handoff.session_idle_minutes)
    async with sessions.begin() as s:
        token, row = await create_session(s, staff_id, now=T0)

    async def seen_at(at: datetime) -> datetime | None:
        async with sessions.begin() as s:
            found = await find_session(s, token, now=at, policy=POLICY)
        async with sessions() as s:
            last = (await s.get(StaffSession, row.id)).last_seen_at
        return last if found else None

    assert await seen_at(T0 + timedelta(seconds=59)) == T0
    assert await seen_at(T0 + timedelta(seconds=61)) == T0 + timedelta(seconds=61)
    later = T0 + timedelta(seconds=61) + idle - timedelta(seconds=1)
    assert await seen_at(later) == later
    assert await seen_at(later + idle) is None


async def test_revoking_ends_a_session_and_disabling_or_a_new_password_ends_all(sessions):
    alice = await add_staff(sessions, "alice", "agent", now=T0)
    bob = await add_staff(sessions, "bob", "agent", now=T0)

    async def live(tokens: list[str]) -> list[bool]:
        async with sessions.begin() as s:
            return [await find_session(s, t, now=T0, policy=POLICY) is not None for t in tokens]

    async with sessions.begin() as s:
        made = [await create_session(s, who, now=T0) for who in (alice, alice, alice, bob)]
    tokens = [token for token, _ in made]
    async with sessions.begin() as s:
        assert await revoke_session(s, made[0][1].id, now=T0) is True
        assert await revoke_session(s, made[0][1].id, now=T0) is False
    assert await live(tokens) == [False, True, True, True]
    async with sessions.begin() as s:
        _, ended = await set_password(s, "alice", "a new long password", now=T0, actor="test")
    assert ended == 2
    assert await live(tokens) == [False, False, False, True]
    async with sessions.begin() as s:
        token, _ = await create_session(s, bob, now=T0)
        _, ended = await disable_staff(s, "bob", now=T0, actor="test")
    assert ended == 2
    assert await live([tokens[3], token]) == [False, False]


async def test_a_new_password_lifts_a_lock(sessions):
    staff_id = await add_staff(sessions, "alice", "agent", now=T0)
    for _ in range(5):
        await _sign_in(sessions, "alice", "not the password", T0)
    async with sessions.begin() as s:
        with pytest.raises(StaffError, match="at least 10"):
            await set_password(s, "alice", "short", now=T0, actor="test")
        await set_password(s, "alice", "a new long password", now=T0, actor="test")
    assert await _sign_in(sessions, "alice", PASSWORD, T0) == Refused(Reason.WRONG_PASSWORD)
    assert await _sign_in(sessions, "alice", "a new long password", T0) == staff_id
