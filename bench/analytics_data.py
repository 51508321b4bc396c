"""A year of a collection campaign, generated inside PostgreSQL for bench/analytics.py.

Everything is ``INSERT … SELECT`` over ``generate_series`` and a few UNLOGGED scratch tables
(``gen_*``, dropped at the end), so a million accounts and ten million contact-log rows take
minutes, not hours. Draws that several tables must agree on (an account's due date, a debtor's
link) come from a hash of the row's id (``bench_u``), the rest from a seeded ``random()``.
Foreign keys, unique constraints and secondary indexes are dropped while loading and built
again at the end, exactly as the migrations declared them.

The campaign: accounts placed from a month before the year to a week before its end, each
due between 30 days after and 29 days before placement; 45% paid and 20% withdrawn part way,
the rest open. Buckets are the stretches the default policy gives those dates. Linked debtors
(60%, of 75% sent a link) get each stage's reminders on its cadence until they pay, block the
bot or opt out; one reminder in seven draws an answer, and the conversations go on from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.results.owing import rebuild_owing

START = date(2025, 12, 1)  # the first day buckets were recorded
END = date(2026, 11, 30)  # the last day of the year (the data's "yesterday")
STAGE_STEPS = (
    "('pre_due', -3), ('early', 1), ('early', 3), ('early', 5), ('mid', 6), ('mid', 10),"
    " ('mid', 14), ('mid', 18), ('late', 19), ('late', 22), ('late', 25), ('late', 28)"
)
# (bucket, first dpd, first dpd of the next bucket), as the default policy has them.
BUCKETS = (
    "(1, 'current', -100000, -3), (2, 'pre_due', -3, 1), (3, 'early', 1, 6),"
    " (4, 'mid', 6, 19), (5, 'late', 19, 29), (6, 'final', 29, 100000)"
)
EN_ZONES = (
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Denver",
    "Europe/London", "America/Phoenix", "America/Toronto", "Europe/Berlin", "Europe/Paris",
    "America/Vancouver", "Europe/Madrid", "Australia/Sydney", "Europe/Dublin", "Asia/Kolkata",
    "America/Anchorage", "Pacific/Honolulu", "Europe/Amsterdam", "Europe/Rome",
    "Australia/Melbourne", "Asia/Singapore", "Africa/Johannesburg", "Asia/Dubai",
    "Europe/Stockholm", "Europe/Warsaw", "Australia/Perth", "Pacific/Auckland",
    "America/Mexico_City", "Europe/Athens",
)  # fmt: skip
ZH_ZONES = (
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Kuala_Lumpur",
    "Asia/Macau", "Asia/Urumqi",
)  # fmt: skip
SKIP_REASONS = (
    "ARRAY['open_promise', 'open_promise', 'weekly_cap', 'superseded', 'superseded',"
    " 'dispute', 'hardship', 'open_ticket', 'plan_in_good_standing', 'unreachable']"
)
FAIL_REASONS = (
    "ARRAY['refused: Bad Request: can''t parse entities',"
    " 'gave up after 4 attempts: Timed out',"
    " 'interrupted: delivery unknown, not resent']"
)
TICKET_REASONS = (
    "ARRAY['dispute', 'hardship', 'complaint', 'person_requested', 'person_requested',"
    " 'broken_promises', 'plan_review', 'plan_broken', 'deceased']"
)
OUTCOMES = (
    "ARRAY['paid_in_full', 'promise_recorded', 'promise_recorded', 'plan_agreed',"
    " 'dispute_upheld', 'dispute_rejected', 'hardship_paused', 'ceased', 'no_contact',"
    " 'other', 'paid_in_full', 'promise_recorded']"
)
STAFF = 20


def _zones(zones: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{z}'" for z in zones) + "]"


def _ts(day: str, hour: str = "09:00") -> str:
    """A UTC instant on a DATE expression."""
    return f"(({day}) + TIME '{hour}') AT TIME ZONE 'UTC'"


@dataclass(frozen=True)
class Sizes:
    """How much to generate."""

    accounts: int
    contact_log: int

    @property
    def debtors(self) -> int:
        """About 1.25 accounts per debtor."""
        return max(1, self.accounts * 4 // 5)


HASH = """
CREATE OR REPLACE FUNCTION bench_u(x bigint, salt bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(x, salt) >> 11) & 9007199254740991)::float8 / 9007199254740992 $$
"""


def _steps(n: Sizes) -> list[tuple[str, str]]:
    """The statements, in order, each with what it makes."""
    a, d = n.accounts, n.debtors
    s, e = f"DATE '{START}'", f"DATE '{END}'"
    en, zh = _zones(EN_ZONES), _zones(ZH_ZONES)
    return [
        (
            "debtors",
            f"""
INSERT INTO debtor (id, debtor_ref, full_name, email, locale, timezone, created_at, updated_at)
SELECT g, 'D' || lpad(g::text, 9, '0'), 'Debtor ' || g,
  CASE WHEN bench_u(g, 3) < 0.6 THEN 'debtor' || g || '@example.com' END,
  CASE WHEN bench_u(g, 2) < 0.3 THEN 'zh_CN' ELSE 'en_US' END,
  CASE WHEN bench_u(g, 2) < 0.3
    THEN ({zh})[1 + floor(bench_u(g, 4) ^ 2 * {len(ZH_ZONES)})::int]
    ELSE ({en})[1 + floor(bench_u(g, 4) ^ 1.5 * {len(EN_ZONES)})::int] END,
  {_ts(f"{s} - 30 + floor(bench_u(g, 10) * 390)::int")},
  {_ts(f"{s} - 30 + floor(bench_u(g, 10) * 390)::int")}
FROM generate_series(1, {d}) g""",
        ),
        (
            "accounts (scratch)",
            f"""
CREATE UNLOGGED TABLE gen_account AS
SELECT id, debtor_id, placed, due, amount, currency,
  CASE WHEN o_day <= {e} THEN outcome END AS outcome,
  CASE WHEN o_day <= {e} THEN o_day END AS outcome_day
FROM (
  SELECT g AS id, CASE WHEN g <= {d} THEN g ELSE ((g - {d}) * 4 - 1) % {d} + 1 END AS debtor_id,
    p AS placed, p - at_dpd AS due,
    5000 + floor(bench_u(g, 14) ^ 2 * 495000)::bigint AS amount,
    CASE WHEN bench_u(CASE WHEN g <= {d} THEN g ELSE ((g - {d}) * 4 - 1) % {d} + 1 END, 2)
      < 0.3 THEN 'CNY' WHEN bench_u(g, 15) < 0.2 THEN 'EUR' ELSE 'USD' END AS currency,
    CASE WHEN r < 0.45 THEN 'paid' WHEN r < 0.65 THEN 'closed' END AS outcome,
    CASE WHEN r < 0.65 THEN greatest(p + 1, p - at_dpd + CASE WHEN r < 0.45
      THEN -3 + floor(bench_u(g, 13) ^ 1.6 * 90)::int
      ELSE 30 + floor(bench_u(g, 13) * 150)::int END) END AS o_day
  FROM generate_series(1, {a}) g
  CROSS JOIN LATERAL (SELECT
    {s} - 30 + floor(bench_u(g, 10) * 390)::int AS p,
    floor(bench_u(g, 11) * 60)::int - 30 AS at_dpd,
    bench_u(g, 12) AS r) x
) y""",
        ),
        (
            "accounts",
            f"""
INSERT INTO account (id, account_ref, debtor_id, product, currency, amount_due_minor, due_date,
  status, late_fee_waived, paid_at, closed_reason, closed_at, created_at, updated_at)
SELECT id, 'A' || lpad(id::text, 10, '0'), debtor_id,
  (ARRAY['card', 'loan', 'telecom', 'utility'])[1 + id % 4], currency,
  CASE WHEN outcome = 'paid' THEN 0 ELSE amount END, due, coalesce(outcome, 'open'), false,
  CASE WHEN outcome = 'paid' THEN {_ts("outcome_day", "10:00")} END,
  CASE WHEN outcome = 'closed' THEN 'withdrawn' END,
  CASE WHEN outcome = 'closed' THEN {_ts("outcome_day", "02:00")} END,
  {_ts("placed", "08:00")}, {_ts("coalesce(outcome_day, placed)", "10:00")}
FROM gen_account ORDER BY id""",
        ),
        (
            "account buckets",
            f"""
INSERT INTO account_bucket (account_id, debtor_id, bucket, from_day, until_day, balance_minor,
  currency, recorded_at)
SELECT account_id, debtor_id, bucket, from_day, until_day, balance, currency,
  {_ts("from_day", "00:10")}
FROM (
  SELECT a.id AS account_id, a.debtor_id, b.name AS bucket, x.f AS from_day,
    CASE WHEN x.t <= {e} THEN x.t END AS until_day, a.amount AS balance, a.currency
  FROM gen_account a
  CROSS JOIN (VALUES {BUCKETS}) b(n, name, lo, hi)
  CROSS JOIN LATERAL (SELECT greatest(a.due + b.lo, a.placed, {s}) AS f,
    least(a.due + b.hi, coalesce(a.outcome_day, DATE '2300-01-01')) AS t) x
  WHERE x.f < x.t AND x.f <= {e}
  UNION ALL
  SELECT id, debtor_id, outcome, greatest(outcome_day, {s}), NULL,
    CASE WHEN outcome = 'paid' THEN 0 ELSE amount END, currency
  FROM gen_account WHERE outcome IS NOT NULL
) z ORDER BY from_day, account_id""",
        ),
        (
            "payments",
            f"""
INSERT INTO payment (payment_ref, account_id, amount_minor, currency, paid_at, source, created_at)
SELECT ref, account_id, amount, currency, paid_at,
  CASE WHEN random() < 0.7 THEN 'file' ELSE 'api' END,
  -- One payment in twenty is recorded days after it was made (a back-dated file).
  paid_at + CASE WHEN random() < 0.05 THEN interval '1 day' * (2 + floor(random() * 9))
    ELSE interval '40 minutes' END
FROM (
  SELECT 'P' || a.id || '-' || i AS ref, a.id AS account_id,
    CASE WHEN i = k.n THEN a.amount - (k.n - 1) * (a.amount / k.n) ELSE a.amount / k.n END
      AS amount, a.currency,
    {_ts(f"greatest(a.outcome_day - 9 * (k.n - i), a.placed, {s} - 30)", "08:00")}
      + random() * interval '13 hours' AS paid_at
  FROM gen_account a
  CROSS JOIN LATERAL (SELECT 1 + floor(bench_u(a.id, 20) * 5)::int AS n) k
  CROSS JOIN LATERAL generate_series(1, k.n) i
  WHERE a.outcome = 'paid'
  UNION ALL
  SELECT 'P' || id || '-p', id, amount / 5, currency,
    {_ts(f"placed + floor(bench_u(id, 21) * ({e} - placed))::int", "08:00")}
      + random() * interval '13 hours'
  FROM gen_account WHERE outcome IS NULL AND bench_u(id, 22) < 0.45 AND placed < {e}
) p ORDER BY paid_at""",
        ),
        (
            "debtors' links (scratch)",
            f"""
CREATE UNLOGGED TABLE gen_debtor AS
SELECT *,
  CASE WHEN link_day IS NOT NULL AND bench_u(id, 32) < 0.04
    THEN link_day + floor(bench_u(id, 36) * ({e} - link_day + 1))::int END AS blocked_day,
  CASE WHEN link_day IS NOT NULL AND bench_u(id, 34) < 0.03
    THEN link_day + floor(bench_u(id, 37) * ({e} - link_day + 1))::int END AS opted_day
FROM (
  SELECT a.debtor_id AS id, a.id AS account_id, a.placed, a.due, a.outcome_day, a.amount,
    a.currency, bench_u(a.debtor_id, 2) < 0.3 AS zh,
    CASE WHEN bench_u(a.debtor_id, 30) < 0.75 THEN a.placed + 1 END AS token_day,
    CASE WHEN bench_u(a.debtor_id, 30) < 0.6
      AND a.placed + 1 + floor(bench_u(a.debtor_id, 33) * 10)::int <= {e}
      THEN a.placed + 1 + floor(bench_u(a.debtor_id, 33) * 10)::int END AS link_day,
    {_ts("a.placed + 1 + floor(bench_u(a.debtor_id, 33) * 10)::int")}
      + bench_u(a.debtor_id, 35) * interval '11 hours' AS link_at,
    bench_u(a.debtor_id, 31) < 0.92 AS verifies
  FROM gen_account a WHERE a.id <= {d}
) x""",
        ),
        (
            "link tokens",
            f"""
INSERT INTO link_token (id, debtor_id, token_hash, created_at, expires_at, used_at,
  failed_attempts)
SELECT id, id, md5('t' || id) || md5('u' || id), {_ts("token_day", "07:00")},
  {_ts("token_day + 30", "07:00")}, CASE WHEN link_day IS NOT NULL THEN link_at END, 0
FROM gen_debtor WHERE token_day IS NOT NULL ORDER BY token_day""",
        ),
        (
            "channel links",
            f"""
INSERT INTO channel_link (id, debtor_id, channel, chat_id, user_id, token_id, language_code,
  linked_at, verified_at, verify_method, verified_phone, failed_attempts, unreachable_at,
  unreachable_reason)
SELECT id, id, 'telegram', 5000000000 + id, 5000000000 + id, id,
  CASE WHEN zh THEN 'zh-hans' ELSE 'en' END, link_at,
  CASE WHEN verifies THEN link_at + interval '3 minutes' END,
  CASE WHEN verifies THEN 'contact' END,
  CASE WHEN verifies THEN '+1555' || lpad(id::text, 7, '0') END, 0,
  CASE WHEN blocked_day IS NOT NULL THEN {_ts("blocked_day", "14:00")} END,
  CASE WHEN blocked_day IS NOT NULL THEN 'Forbidden: bot was blocked by the user' END
FROM gen_debtor WHERE link_day IS NOT NULL ORDER BY link_at""",
        ),
        (
            "staff and experiments",
            f"""
INSERT INTO staff_user (id, username, display_name, password_hash, role, failed_logins,
  created_at, updated_at)
SELECT g, 'agent' || g, 'Agent ' || g, 'not-a-hash', CASE WHEN g = 1 THEN 'admin' ELSE 'agent'
  END, 0, {_ts(f"{s} - 60")}, {_ts(f"{s} - 60")}
FROM generate_series(1, {STAFF}) g;
INSERT INTO template_experiment (id, key, locale, control_version, challenger_version,
  challenger_percent, status, note, started_by, started_at, stopped_by, stopped_at,
  kept_version)
VALUES (1, 'stage_early', 'en_US', 2, 3, 50, 'running', 'Shorter opening', 1,
    {_ts("DATE '2026-09-15'")}, NULL, NULL, NULL),
  (2, 'stage_mid', 'zh_CN', 1, 2, 50, 'stopped', 'Polite close', 1,
    {_ts("DATE '2026-06-01'")}, 1, {_ts("DATE '2026-08-01'")}, 2)""",
        ),
        (
            "promises",
            f"""
INSERT INTO promise (debtor_id, account_id, amount_minor, currency, promised_date, status,
  paid_minor, source, resolved_at, created_at, updated_at)
SELECT id, account_id, amount, currency, promised, status,
  CASE status WHEN 'kept' THEN amount WHEN 'partial' THEN amount / 3 ELSE 0 END, 'debtor',
  CASE WHEN status <> 'open' THEN {_ts("promised + 2", "01:00")} END, made, made
FROM (
  SELECT d.id, d.account_id, d.currency, promised, made,
    CASE WHEN bench_u(d.id * 3 + k, 56) < 0.3 THEN d.amount / 2 ELSE d.amount END AS amount,
    CASE WHEN promised + 2 >= {e} THEN 'open' WHEN r < 0.45 THEN 'kept'
      WHEN r < 0.6 THEN 'partial' WHEN r < 0.95 THEN 'broken' ELSE 'cancelled' END AS status
  FROM gen_debtor d
  CROSS JOIN generate_series(1, CASE WHEN bench_u(d.id, 51) < 0.08 THEN 2 ELSE 1 END) k
  CROSS JOIN LATERAL (SELECT greatest(d.link_day + 1,
    d.due + 1 + floor(bench_u(d.id * 3 + k, 52) * 25)::int + (k - 1) * 20) AS made_day) m
  CROSS JOIN LATERAL (SELECT m.made_day + 1 + floor(bench_u(d.id * 3 + k, 53) * 14)::int
    AS promised, {_ts("m.made_day", "10:00")} + bench_u(d.id, 57) * interval '10 hours'
    AS made, bench_u(d.id * 3 + k, 54) AS r) p
  WHERE d.link_day IS NOT NULL AND d.verifies AND bench_u(d.id, 50) < 0.4
    AND m.made_day <= {e} AND (d.outcome_day IS NULL OR m.made_day < d.outcome_day)
) x ORDER BY made""",
        ),
        (
            "plans",
            f"""
INSERT INTO repayment_plan (debtor_id, account_id, status, total_minor, currency,
  installment_count, source, activated_at, ended_at, created_at, updated_at)
SELECT id, account_id, status, amount, currency, n, 'debtor',
  CASE WHEN status <> 'review' THEN made END, CASE WHEN status = 'cancelled' THEN made
  + interval '3 days' END, made, made
FROM (
  SELECT d.id, d.account_id, d.amount, d.currency, 2 + floor(bench_u(d.id, 58) * 5)::int AS n,
    CASE WHEN bench_u(d.id, 59) < 0.03 THEN 'review' WHEN bench_u(d.id, 59) < 0.09
      THEN 'cancelled' ELSE 'active' END AS status,
    {_ts("m.made_day", "11:00")} + bench_u(d.id, 61) * interval '9 hours' AS made
  FROM gen_debtor d
  CROSS JOIN LATERAL (SELECT greatest(d.link_day + 1,
    d.due + 5 + floor(bench_u(d.id, 60) * 25)::int) AS made_day) m
  WHERE d.link_day IS NOT NULL AND d.verifies AND bench_u(d.id, 55) < 0.1
    AND m.made_day <= {e} AND (d.outcome_day IS NULL OR m.made_day < d.outcome_day)
) x ORDER BY made""",
        ),
        (
            "plan installments",
            f"""
INSERT INTO plan_installment (plan_id, seq, due_date, amount_minor, paid_minor, status, paid_at)
SELECT id, i, due, part, CASE WHEN st = 'paid' THEN part ELSE 0 END, st,
  CASE WHEN st <> 'paid' THEN NULL WHEN r < 0.72
    THEN {_ts("due - floor(r * 5)::int", "12:00")}
    ELSE {_ts("due + 1 + floor((r - 0.72) * 30)::int", "12:00")} END
FROM (
  SELECT p.id, i, CAST(p.created_at AS date) + 7 + 30 * (i - 1) AS due,
    CASE WHEN i = p.installment_count
      THEN p.total_minor - (i - 1) * (p.total_minor / p.installment_count)
      ELSE p.total_minor / p.installment_count END AS part,
    bench_u(p.id * 10 + i, 62) AS r,
    CASE WHEN CAST(p.created_at AS date) + 7 + 30 * (i - 1) > {e} - 5 OR p.status <> 'active'
      THEN 'pending' WHEN bench_u(p.id * 10 + i, 62) < 0.84 THEN 'paid' ELSE 'missed' END AS st
  FROM repayment_plan p CROSS JOIN LATERAL generate_series(1, p.installment_count) i
) x;
UPDATE repayment_plan p SET status = CASE WHEN x.missed THEN 'broken'
    WHEN x.all_paid THEN 'completed' ELSE 'active' END,
  ended_at = CASE WHEN x.missed OR x.all_paid THEN {_ts("x.last_due + 5", "01:00")} END
FROM (SELECT plan_id, bool_or(status = 'missed') AS missed, bool_and(status = 'paid')
  AS all_paid, max(due_date) AS last_due FROM plan_installment GROUP BY plan_id) x
WHERE x.plan_id = p.id AND p.status = 'active'""",
        ),
        (
            "handoff tickets",
            f"""
INSERT INTO handoff_ticket (debtor_id, account_id, status, reasons, note, opened_at,
  claimed_by, claimed_at, resolved_at, first_claimed_at, first_reply_at, released_at,
  bot_seconds, outcome, resolution, created_at, updated_at)
SELECT id, account_id, status, reasons, NULL, opened_at,
  CASE WHEN status = 'claimed' THEN staff END, CASE WHEN status = 'claimed' THEN claimed END,
  resolved, claimed, replied, CASE WHEN bot_seconds > 0 THEN claimed + interval '5 minutes' END,
  bot_seconds, CASE WHEN resolved IS NOT NULL THEN outcome END,
  CASE WHEN resolved IS NOT NULL THEN 'Done.' END, opened_at, coalesce(resolved, opened_at)
FROM (
  SELECT *, CASE WHEN resolved IS NOT NULL THEN 'resolved' WHEN claimed IS NOT NULL
    THEN 'claimed' ELSE 'open' END AS status
  FROM (
    SELECT d.id, d.account_id, o.opened_at, o.reasons,
      1 + floor(bench_u(d.id, 70) * {STAFF})::int AS staff,
      c.claimed, CASE WHEN c.claimed IS NOT NULL AND bench_u(d.id, 72) < 0.85
        THEN c.claimed + interval '1 minute' * (1 + bench_u(d.id, 73) * 20) END AS replied,
      CASE WHEN (c.claimed IS NOT NULL OR bench_u(d.id, 74) < 0.5)
        AND o.opened_at < {_ts(f"{e} - 2")}
        THEN coalesce(c.claimed, o.opened_at) + interval '10 minutes'
          + bench_u(d.id, 75) ^ 2 * interval '3 days' END AS resolved,
      CASE WHEN bench_u(d.id, 76) < 0.12 THEN 300 + floor(bench_u(d.id, 77) * 6900)::int
        ELSE 0 END AS bot_seconds,
      ({OUTCOMES})[1 + floor(bench_u(d.id, 78) * 12)::int] AS outcome
    FROM gen_debtor d
    CROSS JOIN LATERAL (SELECT CASE WHEN bench_u(d.id, 79) < 0.5 AND d.due + 29 <= {e}
        AND d.due + 29 >= {s} AND (d.outcome_day IS NULL OR d.outcome_day > d.due + 29)
      THEN d.due + 29
      ELSE greatest(d.placed, {s}) + floor(bench_u(d.id, 80)
        * ({e} - greatest(d.placed, {s}) + 1))::int END AS day) t
    CROSS JOIN LATERAL (SELECT {_ts("t.day", "08:00")} + bench_u(d.id, 81)
        * interval '12 hours' AS opened_at,
      CAST(CASE WHEN t.day = d.due + 29 THEN '["final_stage"]'
        WHEN bench_u(d.id, 82) < 0.15 THEN '["' || ({TICKET_REASONS})[1 + floor(bench_u(d.id,
          83) * 9)::int] || '", "complaint"]'
        ELSE '["' || ({TICKET_REASONS})[1 + floor(bench_u(d.id, 83) * 9)::int] || '"]' END
        AS json) AS reasons) o
    CROSS JOIN LATERAL (SELECT CASE WHEN bench_u(d.id, 71) < 0.9 THEN o.opened_at
      - ln(1 - bench_u(d.id, 84)) * interval '25 minutes' END AS claimed) c
    WHERE bench_u(d.id, 85) < 0.0625 AND t.day >= greatest(d.placed, {s})
  ) x
) y ORDER BY opened_at""",
        ),
        (
            "audit events",
            f"""
INSERT INTO audit_event (debtor_id, kind, actor, detail, created_at)
SELECT debtor_id, kind, actor, detail, at FROM (
  SELECT id AS debtor_id, 'link_sent' AS kind, 'import' AS actor, NULL AS detail,
    {_ts("token_day", "07:00")} AS at FROM gen_debtor WHERE token_day IS NOT NULL
  UNION ALL
  SELECT id, 'chat_verified', 'debtor', 'contact', link_at + interval '3 minutes'
  FROM gen_debtor WHERE link_day IS NOT NULL AND verifies
  UNION ALL
  SELECT id, 'opted_out', 'debtor', 'STOP', {_ts("opted_day", "12:00")}
    + bench_u(id, 38) * interval '8 hours'
  FROM gen_debtor WHERE opted_day IS NOT NULL
  UNION ALL
  SELECT id, 'chat_unreachable', 'system', 'Forbidden: bot was blocked by the user',
    {_ts("blocked_day", "14:00")} FROM gen_debtor WHERE blocked_day IS NOT NULL
) x ORDER BY at;
UPDATE debtor SET opted_out_at = e.created_at FROM audit_event e
WHERE e.debtor_id = debtor.id AND e.kind = 'opted_out'""",
        ),
        (
            "reminders planned (scratch)",
            f"""
CREATE UNLOGGED TABLE gen_step AS
SELECT row_number() OVER (ORDER BY planned_at, debtor_id) AS id, * FROM (
  SELECT *, CASE status WHEN 'sent' THEN sent_at END AS sent,
    CASE WHEN experiment_id IS NULL THEN CASE WHEN zh THEN CASE WHEN day < DATE '2026-05-01'
        THEN 0 ELSE 1 END WHEN day < DATE '2026-03-01' THEN 0 WHEN day < DATE '2026-07-01'
        THEN 1 ELSE 2 END
      WHEN experiment_id = 1 THEN CASE arm WHEN 'control' THEN 2 ELSE 3 END
      ELSE CASE arm WHEN 'control' THEN 1 ELSE 2 END END AS version
  FROM (
    SELECT x.*, CASE WHEN status = 'sent' AND NOT zh AND stage = 'early'
        AND day >= DATE '2026-09-15' THEN 1
      WHEN status = 'sent' AND zh AND stage = 'mid' AND day >= DATE '2026-06-01'
        AND day < DATE '2026-08-01' THEN 2 END AS experiment_id,
      CASE WHEN bench_u(debtor_id, 41) < 0.5 THEN 'challenger' ELSE 'control' END AS arm
    FROM (
      SELECT d.id AS debtor_id, d.account_id, d.zh, 'stage' AS kind, st.stage,
        'stage_' || st.stage AS template_key, day, NULL::bigint AS promise_id,
        CASE WHEN day = d.blocked_day THEN 'failed' WHEN r < 0.89 THEN 'sent'
          WHEN r < 0.91 THEN 'failed' ELSE 'skipped' END AS status,
        CASE WHEN day = d.blocked_day THEN 'unreachable'
          WHEN r < 0.89 THEN NULL WHEN r < 0.91 THEN ({FAIL_REASONS})[1 + floor((r - 0.89)
          * 150)::int] ELSE ({SKIP_REASONS})[1 + floor((r - 0.91) * 111)::int] END AS reason,
        t.at - random() * interval '6 hours' AS planned_at, t.at AS sent_at,
        CASE WHEN random() < 0.25 THEN 1 + floor(random() * 3)::int ELSE 0 END AS window_d,
        CASE WHEN random() < 0.08 THEN 1 ELSE 0 END AS gap_d
      FROM gen_debtor d
      CROSS JOIN (VALUES {STAGE_STEPS}) st(stage, dpd)
      CROSS JOIN LATERAL (SELECT d.due + st.dpd AS day, random() AS r) v
      CROSS JOIN LATERAL (SELECT {_ts("v.day", "08:00")} + random() * interval '12 hours'
        AS at) t
      WHERE d.link_day IS NOT NULL AND d.verifies AND day > d.link_day AND day >= {s}
        AND day <= least(coalesce(d.outcome_day - 1, {e}), coalesce(d.blocked_day, {e}),
          coalesce(d.opted_day - 1, {e}), {e})
      UNION ALL
      SELECT p.debtor_id, p.account_id, d.zh, 'promise_due', NULL, 'promise_due',
        p.promised_date - 1, p.id, CASE WHEN random() < 0.95 THEN 'sent' ELSE 'skipped' END,
        'superseded', {_ts("p.promised_date - 1", "07:00")},
        {_ts("p.promised_date - 1", "09:00")} + random() * interval '9 hours', 0, 0
      FROM promise p JOIN gen_debtor d ON d.id = p.debtor_id
      WHERE p.promised_date - 1 <= {e}
    ) x
  ) y
) z""",
        ),
    ]


def _log_steps(n: Sizes) -> list[tuple[str, str]]:
    """The contact log: staged narrow, numbered in time order, then written with its texts."""
    e = f"DATE '{END}'"
    log_columns = (
        "created_at, debtor_id, direction, kind, template_key, template_version,"
        " template_locale, status, error, staff_id, step_id"
    )
    return [
        (
            "contact log: reminders, onboarding, answers (scratch)",
            f"""
CREATE UNLOGGED TABLE gen_log AS
SELECT sent_at AS created_at, debtor_id, 'out' AS direction, 'reminder' AS kind, template_key,
  version AS template_version, CASE WHEN zh THEN 'zh_CN' ELSE 'en_US' END AS template_locale,
  status, CASE WHEN status = 'failed' THEN reason END AS error, NULL::bigint AS staff_id,
  id AS step_id
FROM gen_step WHERE status IN ('sent', 'failed');
INSERT INTO gen_log ({log_columns})
SELECT at, id, dir, kind, key, CASE WHEN key IS NOT NULL THEN 0 END,
  CASE WHEN key IS NULL THEN NULL WHEN zh THEN 'zh_CN' ELSE 'en_US' END,
  CASE dir WHEN 'in' THEN 'received' ELSE 'sent' END, NULL, NULL, NULL
FROM gen_debtor d CROSS JOIN LATERAL (VALUES
  (d.link_at, 'in', 'command', NULL),
  (d.link_at + interval '1 second', 'out', 'reply', 'verify_ask'),
  (d.link_at + interval '3 minutes', 'in', 'contact', NULL),
  (d.link_at + interval '3 minutes 1 second', 'out', 'reply', 'verified')) v(at, dir, kind, key)
WHERE d.link_day IS NOT NULL AND (d.verifies OR v.at < d.link_at + interval '1 minute');
INSERT INTO gen_log ({log_columns})
SELECT at, debtor_id, dir, kind, key, CASE WHEN key IS NOT NULL THEN 0 END,
  CASE WHEN key IS NULL THEN NULL WHEN zh THEN 'zh_CN' ELSE 'en_US' END,
  CASE dir WHEN 'in' THEN 'received' ELSE 'sent' END, NULL, NULL, NULL
FROM (
  SELECT g.debtor_id, g.zh, g.sent_at + random() * interval '6 hours' AS answered,
    random() < 0.5 AS more, random() < 0.6 AS button
  FROM gen_step g WHERE g.status = 'sent' AND random() < 0.15
) a CROSS JOIN LATERAL (VALUES
  (a.answered, 'in', CASE WHEN a.button THEN 'callback' ELSE 'text' END, NULL),
  (a.answered + interval '2 seconds', 'out', 'reply', CASE WHEN a.button THEN 'promise_ask'
    ELSE 'menu' END),
  (a.answered + interval '4 minutes', 'in', 'text', NULL),
  (a.answered + interval '4 minutes 2 seconds', 'out', 'reply', 'promise_confirm'))
  v(at, dir, kind, key)
WHERE a.more OR v.at < a.answered + interval '1 minute';
INSERT INTO gen_log ({log_columns})
SELECT at, id, dir, 'text', NULL, NULL, NULL, 'received', NULL, NULL, NULL
FROM gen_debtor CROSS JOIN LATERAL (VALUES ({_ts("opted_day", "12:00")}
  + bench_u(id, 38) * interval '8 hours', 'in')) v(at, dir)
WHERE opted_day IS NOT NULL;
INSERT INTO gen_log ({log_columns})
SELECT at, t.debtor_id, dir, kind, NULL, NULL, NULL,
  CASE dir WHEN 'in' THEN 'received' ELSE 'sent' END, NULL,
  CASE WHEN dir = 'out' THEN 1 + t.id % {STAFF} END, NULL
FROM handoff_ticket t CROSS JOIN LATERAL (VALUES (t.first_reply_at, 'out', 'agent'),
  (t.first_reply_at + interval '3 minutes', 'in', 'text'),
  (t.first_reply_at + interval '5 minutes', 'out', 'agent')) v(at, dir, kind)
WHERE t.first_reply_at IS NOT NULL""",
        ),
        (
            "contact log: everyday conversation to fill (scratch)",
            f"""
CREATE UNLOGGED TABLE gen_linked AS
SELECT row_number() OVER () AS n, id, zh, link_at FROM gen_debtor WHERE link_day IS NOT NULL;
INSERT INTO gen_log ({log_columns})
SELECT at + CASE WHEN pair = 2 THEN interval '2 seconds' ELSE interval '0' END, debtor_id,
  CASE WHEN pair = 1 THEN 'in' ELSE 'out' END,
  CASE WHEN pair = 2 THEN 'reply' WHEN button THEN 'callback' ELSE 'text' END,
  CASE WHEN pair = 2 THEN 'menu' END, CASE WHEN pair = 2 THEN 0 END,
  CASE WHEN pair = 2 THEN CASE WHEN zh THEN 'zh_CN' ELSE 'en_US' END END,
  CASE WHEN pair = 1 THEN 'received' ELSE 'sent' END, NULL, NULL, NULL
FROM (
  SELECT CASE WHEN g % 100 = 0 THEN NULL ELSE l.id END AS debtor_id, l.zh,
    l.link_at + random() * ({_ts(f"{e} + 1", "00:00")} - l.link_at) AS at,
    random() < 0.4 AS button
  FROM generate_series(1, greatest(0, ({n.contact_log} - (SELECT count(*) FROM gen_log)) / 2))
    g
  -- Most everyday conversation comes from the three in ten debtors who like to talk.
  JOIN gen_linked l ON l.n = 1 + (g * 7919) % (SELECT greatest(1, count(*) * 3 / 10)
    FROM gen_linked)
) c CROSS JOIN generate_series(1, 2) pair
WHERE pair = 1 OR debtor_id IS NOT NULL""",
        ),
        (
            "contact log (numbered in time order, scratch)",
            """
CREATE UNLOGGED TABLE gen_log_n AS
SELECT row_number() OVER (ORDER BY created_at, direction DESC) AS id, * FROM gen_log""",
        ),
        (
            "contact log",
            """
INSERT INTO contact_log (id, debtor_id, channel, chat_id, direction, kind, template_key,
  template_version, template_locale, text, telegram_message_id, markup, update_id, status,
  error, staff_id, claimed_by, created_at, sent_at)
SELECT id, debtor_id, 'telegram', 5000000000 + coalesce(debtor_id, 900000000 + id % 1000),
  direction, kind, template_key, template_version, template_locale,
  CASE WHEN kind = 'reminder' AND template_locale = 'zh_CN'
      THEN '您好，您在示例银行的账户 A' || debtor_id || ' 已逾期。请点击 https://pay.example.com/p/'
        || substr(md5(id::text), 1, 12) || ' 付款，或选择下方按钮约定日期。回复 退订 即不再接收。'
    WHEN kind = 'reminder' THEN 'Hello, this is Example Bank about account A' || debtor_id
      || ', which is past due. Pay at https://pay.example.com/p/'
      || substr(md5(id::text), 1, 12) || ' or tap a button below to choose a date.'
      || ' Reply STOP to opt out.'
    WHEN kind = 'reply' THEN 'Thank you. When could you pay? Choose a date below or type one,'
      || ' for example 25 May. You can also ask for a plan.'
    WHEN kind = 'agent' THEN 'Hi, this is Sam from Example Bank. I have your account here; how'
      || ' can I help?'
    WHEN kind = 'command' THEN '/start ' || substr(md5('t' || debtor_id), 1, 22)
    WHEN kind = 'callback' THEN 'promise:start'
    WHEN kind = 'contact' THEN '+1555' || lpad(debtor_id::text, 7, '0')
    ELSE (ARRAY['I will pay on Friday', 'ok', 'Can I pay half now?', 'who is this',
      'I already paid last week', 'need more time please', 'STOP'])[1 + id % 7] END,
  CASE WHEN direction = 'out' AND status = 'sent' THEN 10 + id END,
  CASE WHEN kind IN ('reminder', 'reply') THEN CAST('{"buttons": [[["Pay now", "pay"],'
    || ' ["Promise a date", "promise:start"]], [["Talk to a person", "person"]]], "locale": "'
    || coalesce(template_locale, 'en_US') || '"}' AS json) END,
  CASE WHEN direction = 'in' THEN id END, status, error, staff_id, NULL, created_at,
  CASE WHEN direction = 'out' AND status = 'sent' THEN created_at + interval '300 ms' END
FROM gen_log_n ORDER BY id""",
        ),
        (
            "reminder outbox",
            """
INSERT INTO reminder_outbox (id, dedupe_key, debtor_id, kind, stage, template_key,
  account_ids, promise_id, planned_at, not_before, status, reason, attempts, claimed_by,
  claimed_at, sent_at, contact_log_id, experiment_id, arm, window_deferrals, gap_deferrals)
SELECT s.id, s.kind || ':' || s.debtor_id || ':' || coalesce(s.stage, s.promise_id::text)
    || ':' || s.day,
  s.debtor_id, s.kind, s.stage, s.template_key, CAST('[' || s.account_id || ']' AS json),
  s.promise_id, s.planned_at, s.planned_at, s.status, s.reason,
  CASE WHEN s.status = 'skipped' THEN 0 ELSE 1 END, CASE WHEN s.status <> 'skipped'
  THEN 'bench:1' END, CASE WHEN s.status <> 'skipped' THEN s.sent_at END, s.sent, l.id,
  s.experiment_id, CASE WHEN s.experiment_id IS NOT NULL THEN s.arm END, s.window_d, s.gap_d
FROM gen_step s LEFT JOIN gen_log_n l ON l.step_id = s.id
ORDER BY s.id""",
        ),
    ]


SEQUENCES = (
    "debtor", "account", "account_bucket", "payment", "link_token", "channel_link",
    "staff_user", "template_experiment", "promise", "repayment_plan", "plan_installment",
    "handoff_ticket", "audit_event", "contact_log", "reminder_outbox",
)  # fmt: skip
SCRATCH = ("gen_account", "gen_debtor", "gen_step", "gen_log", "gen_log_n", "gen_linked")


async def _run(conn: AsyncConnection, sql: str) -> None:
    for statement in sql.split(";\n"):
        if statement.strip():
            await conn.execute(text(statement))


async def _loose(conn: AsyncConnection) -> list[str]:
    """Drop foreign keys, unique constraints and secondary indexes; the statements that make
    them again, in an order that works."""
    rows = (
        await conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                " AND contype IN ('f', 'u') ORDER BY contype DESC"
            )
        )
    ).all()
    indexes = (
        await conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        )
    ).all()
    again: list[str] = []
    for table, name, _, _ in rows:
        await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, definition in indexes:
        await conn.execute(text(f'DROP INDEX "{name}"'))
        again.append(definition)
    for table, name, _, definition in sorted(rows, key=lambda r: r[2] == "f"):
        again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return again


async def generate(
    conn: AsyncConnection, sizes: Sizes, say: Callable[[str], None] = print
) -> float:
    """Fill the migrated, empty database behind ``conn`` (in AUTOCOMMIT); seconds taken."""
    began = time.perf_counter()
    # Loading only: index builds sort in memory instead of in many small runs on disk.
    await conn.execute(text("SET maintenance_work_mem = '1GB'"))
    await conn.execute(text("SELECT setseed(0.17)"))
    await conn.execute(text(HASH))
    for name in SCRATCH:
        await conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    again = await _loose(conn)
    for name, sql in _steps(sizes) + _log_steps(sizes):
        started = time.perf_counter()
        await _run(conn, sql)
        say(f"  {name}: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    # Each debtor's spells in the book, built by the product's own code from what is above.
    rebuilt = datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC)
    await rebuild_owing(AsyncSession(bind=conn), rebuilt)
    say(f"  debtors' spells in the book: {time.perf_counter() - started:.1f} s")
    for name in SCRATCH:
        await conn.execute(text(f"DROP TABLE {name}"))
    await conn.execute(text("DROP FUNCTION bench_u(bigint, bigint)"))
    for table in SEQUENCES:
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        )
    started = time.perf_counter()
    for statement in again:
        await conn.execute(text(statement))
    say(f"  constraints and indexes again: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    await conn.execute(text("VACUUM ANALYZE"))
    say(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
    return time.perf_counter() - began
