"""The experiment forms through a real aiohttp server: who may use them, what a forged or
wrong form gets (a polite page, and no change), and what starting and stopping do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.db.models import AuditEvent, TemplateExperiment
from bot.templates import versions
from tests.console.test_auth import PAGE, T0, Clock, _app, _csrf, _get, _sign_in
from tests.helpers import add_staff

# Pages and commands over the same figures on either database: CI runs these once.
pytestmark = pytest.mark.once

WARMER = (
    "Hi {{ first_name }}, this is {{ creditor }}. A payment slipped past its date.\n\n"
    "{{ accounts_block }}\n\nPay with the button below, or tell us what suits you."
)


@pytest.fixture
async def admin(sessions) -> AsyncIterator[TestClient]:
    """A client signed in as Grace, an admin, with a draft of stage_early in English."""
    grace = await add_staff(sessions, "grace", "admin", name="Grace Hopper", now=T0)
    await add_staff(sessions, "ada", "agent", name="Ada Lovelace", now=T0)
    async with sessions.begin() as s:
        await versions.save_draft(
            s, "stage_early", "en", WARMER, comment="warmer", staff_id=grace, now=T0, based_on=0
        )
    async with TestClient(TestServer(_app(sessions, Clock()))) as client:
        assert (await _sign_in(client, "grace"))[0] == 303
        yield client


async def _post(client: TestClient, path: str, csrf: str | None = "", **form: str):
    data = {**form, **({"csrf": csrf or await _csrf(client)} if csrf is not None else {})}
    async with client.post(path, data=data, headers=PAGE, allow_redirects=False) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


async def _experiments(sessions) -> list[tuple[int, str, int | None]]:
    async with sessions() as s:
        rows = await s.execute(
            select(
                TemplateExperiment.id, TemplateExperiment.status, TemplateExperiment.kept_version
            )
        )
        return [tuple(r) for r in rows]


START = {"key": "stage_early", "locale": "en", "challenger": "1", "percent": "30", "note": ""}


async def test_an_admin_starts_sees_and_stops_an_experiment(admin, sessions):
    status, _, html = await _get(admin, "/console/templates/stage_early/en")
    assert (status, 'action="/console/experiments"' in html) == (200, True)
    assert '<option value="1">Version 1 (draft) · warmer</option>' in html
    # A message the policy does not send on its own has no panel.
    status, _, html = await _get(admin, "/console/templates/verified/en")
    assert (status, 'id="experiment"' in html) == (200, False)

    assert await _post(admin, "/console/experiments", **START) == (
        303, "/console/templates/stage_early/en?experiment=started", "303: See Other",
    )  # fmt: skip
    _, _, html = await _get(admin, "/console/templates/stage_early/en?experiment=started")
    assert "Experiment #1 started." in html
    assert 'href="/console/experiments#experiment-1"' in html
    status, _, html = await _get(admin, "/console/experiments")
    assert status == 200
    assert html.count("No figures yet") == 6  # three verdicts and three charts
    assert "Stop, keep challenger" in html

    assert await _post(admin, "/console/experiments/1/stop", keep="challenger") == (
        303, "/console/experiments?stopped=1", "303: See Other",
    )  # fmt: skip
    assert await _experiments(sessions) == [(1, "stopped", 1)]
    status, _, html = await _get(admin, "/console/experiments?stopped=1")
    assert "Experiment #1 is stopped; the version kept is in use for everyone." in html
    assert "Stopped · kept version 1" in html and "Stop, keep challenger" not in html

    # Pressed again (another tab, a double click that got through): said, and nothing changes.
    status, _, html = await _post(admin, "/console/experiments/1/stop", keep="control")
    assert status == 409
    assert "Experiment #1 was already stopped, keeping version 1." in html
    async with sessions() as s:
        live = await versions.live(s, "stage_early", "en")
    assert (live.version, await _experiments(sessions)) == (1, [(1, "stopped", 1)])


@pytest.mark.parametrize(
    ("form", "status", "said"),
    [
        ({"percent": "lots"}, 409, "a whole percent from 1 to 99."),
        ({"percent": "100"}, 409, "The challenger&#39;s share is a whole percent from 1 to 99."),
        ({"challenger": ""}, 409, "Choose the challenger version and its share"),
        ({"challenger": "7"}, 409, "stage_early (en) has no version 7."),
        ({"challenger": "0"}, 409, "The challenger must be another version than the control."),
        ({"key": "verified"}, 400, "Only a stage message (a reminder the policy sends)"),
        ({"key": "nope"}, 400, "That message does not exist."),
        ({"locale": "fr"}, 400, "That message does not exist."),
    ],
)
async def test_wrong_input_gets_a_polite_page_and_starts_nothing(
    admin, sessions, form, status, said
):
    answer, _, html = await _post(admin, "/console/experiments", **{**START, **form})
    assert (answer, said in html) == (status, True)
    assert await _experiments(sessions) == []


async def test_forged_forms_and_agents_change_nothing(admin, sessions):
    assert (await _post(admin, "/console/experiments", csrf=None, **START))[0] == 403
    status, _, html = await _post(admin, "/console/experiments", csrf="forged", **START)
    assert (status, "This form has expired" in html) == (403, True)
    assert await _experiments(sessions) == []

    await _post(admin, "/console/experiments", **START)
    assert (await _post(admin, "/console/experiments/1/stop", csrf=None, keep="control"))[0] == 403
    status, _, html = await _post(admin, "/console/experiments/1/stop", keep="everything")
    assert (status, "Choose to keep the control or the challenger." in html) == (409, True)
    status, _, html = await _post(admin, "/console/experiments/99/stop", keep="control")
    assert (status, "There is no such experiment." in html) == (409, True)

    ada = TestClient(admin.server)
    try:
        assert (await _sign_in(ada, "ada"))[0] == 303
        assert (await _get(ada, "/console/experiments"))[0] == 403
        status, _, html = await _post(ada, "/console/experiments/1/stop", keep="challenger")
        assert (status, "This page is for admins only." in html) == (403, True)
        assert (await _post(ada, "/console/experiments", **START))[0] == 403
    finally:
        await ada.session.close()
    assert await _experiments(sessions) == [(1, "running", None)]
    async with sessions() as s:
        kinds = await s.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("experiment%")))
        assert list(kinds) == ["experiment_started"]
        assert await s.scalar(select(func.count()).select_from(TemplateExperiment)) == 1
