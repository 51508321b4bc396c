"""The collection policy file: the default is valid, a wrong field is named, fees are exact."""

from __future__ import annotations

import pytest

from bot.policy import DEFAULT_POLICY, LateFees, PolicyError, load_policy
from bot.reminders.fees import late_fee


def test_the_default_policy_matches_the_brief():
    policy = load_policy()
    assert [(s.name, s.from_dpd, s.to_dpd) for s in policy.stages] == [
        ("pre_due", -3, -1), ("early", 1, 5), ("mid", 6, 18), ("late", 19, 28),
    ]  # fmt: skip
    assert (policy.final.from_dpd, str(policy.window.start), str(policy.window.end)) == (
        29, "08:00:00", "21:00:00",
    )  # fmt: skip
    assert policy.caps.max_per_7_days == 7
    assert policy.late_fees.enabled is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("cadence_days = 2", "cadence_days = 0"),
            "stages.1.cadence_days: Input should be greater than or equal to 1",
        ),
        (('end = "21:00"', 'end = "07:00"'), "window: end must be after start"),
        (
            ('start = "08:00"', 'start = "8 o\'clock"'),
            "window.start: Input should be in a valid time format",
        ),
        (("from_dpd = 6", "from_dpd = 4"), "stages early and mid overlap"),
        (("opted_out = true", "opted_out = false"), "holds.opted_out: cannot be switched off"),
        (
            ("max_per_7_days = 7", "max_per_7_days = 7\nsurprise = 1"),
            "caps.surprise: Extra inputs are not permitted",
        ),
        (
            ("[final]\nfrom_dpd = 29", "[final]\nfrom_dpd = 20"),
            "final.from_dpd must come after the last stage",
        ),
        (
            ('template = "stage_mid"', 'template = "stage_middle"'),
            "stages.2.template: no message template 'stage_middle' ships in English",
        ),
    ],
)
def test_a_bad_field_is_named(tmp_path, change, message):
    text = DEFAULT_POLICY.read_text().replace(*change, 1)
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_a_broken_toml_file_is_reported(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[window\nstart=")
    with pytest.raises(PolicyError, match=r"policy\.toml: "):
        load_policy(path)


@pytest.mark.parametrize(
    ("amount", "dpd", "waived", "expected"),
    [
        (100000, 10, False, 1000),  # 0.1 % a day for 10 days of 1,000.00
        (100000, 0, False, 0),
        (100000, -2, False, 0),
        (100000, 500, False, 5000),  # capped at 5 %
        (333, 7, False, 2),  # rounded down
        (100000, 10, True, 0),
    ],
)
def test_late_fees(amount, dpd, waived, expected):
    fees = LateFees(enabled=True, daily_rate_permille=1, cap_percent=5)
    assert late_fee(amount, dpd, fees, waived=waived) == expected
    assert (
        late_fee(
            amount,
            dpd,
            LateFees(enabled=False, daily_rate_permille=1, cap_percent=5),
            waived=False,
        )
        == 0
    )
