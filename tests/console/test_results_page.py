"""The results page through a real aiohttp server, on November's hand-made portfolio: who sees
which section, what the sections and CSV files say, and polite answers to bad filters."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.results.period import Table
from bot.web.console.results import to_csv
from tests.console.test_auth import PAGE, T0, Clock, _app, _get, _sign_in
from tests.helpers import add_staff
from tests.results.test_figures import build

# Pages and commands over the same figures on either database: CI runs these once.
pytestmark = pytest.mark.once

NOVEMBER = "from=2026-11-01&to=2026-11-30"
IN_HTML = NOVEMBER.replace("&", "&amp;")


@pytest.fixture
async def server(sessions, tmp_path) -> AsyncIterator[TestServer]:
    """The console over November's portfolio; Grace is an admin, Ada (from the portfolio) an
    agent."""
    await build(sessions, tmp_path)
    await add_staff(sessions, "grace", "admin", name="Grace Hopper", now=T0)
    async with TestServer(_app(sessions, Clock())) as running:
        yield running


async def signed_in(server: TestServer, username: str) -> TestClient:
    client = TestClient(server)
    await client.start_server()
    assert (await _sign_in(client, username))[0] == 303
    return client


async def test_an_admin_sees_every_section_and_an_agent_only_the_queue(server) -> None:
    admin, agent = await signed_in(server, "grace"), await signed_in(server, "ada")
    try:
        status, _, page = await _get(admin, f"/console/results?{NOVEMBER}")
        assert status == 200
        for name in ("funnel", "book", "channel", "queue"):
            assert f'data-src="/console/results/section/{name}?{IN_HTML}"' in page
        status, _, page = await _get(agent, f"/console/results?{NOVEMBER}")
        assert status == 200
        assert 'data-src="/console/results/section/queue?' in page
        assert "section/funnel" not in page
        # The server says no, whatever the page showed.
        assert (await _get(agent, f"/console/results/section/funnel?{NOVEMBER}"))[0] == 403
        assert (await _get(agent, f"/console/results/funnel.csv?{NOVEMBER}"))[0] == 404
        assert (await _get(agent, f"/console/results/queue_times.csv?{NOVEMBER}"))[0] == 200
    finally:
        await admin.close()
        await agent.close()


async def test_a_section_draws_its_charts_with_their_numbers(server) -> None:
    admin = await signed_in(server, "grace")
    try:
        status, _, html = await _get(admin, f"/console/results/section/funnel?{NOVEMBER}")
        assert status == 200
        assert html.count('<svg class="chart"') == 2  # the funnel and the rates
        assert "<title>Sent a link: 5</title>" in html
        assert '<td class="num">71.4%</td>' in html  # 5 of 7 sent a link
        status, _, html = await _get(admin, f"/console/results/section/book?{NOVEMBER}")
        # One chart per currency of money recovered, never one axis for two currencies.
        assert '<h4 class="chart-title">USD</h4>' in html
        assert '<h4 class="chart-title">CNY</h4>' in html
        assert "2026-11-15 · USD" not in html and "<title>2026-11-15: $600.00</title>" in html
    finally:
        await admin.close()


async def test_each_table_downloads_as_csv(server) -> None:
    admin = await signed_in(server, "grace")
    try:
        async with admin.get(f"/console/results/liquidation.csv?{NOVEMBER}") as response:
            assert response.status == 200
            assert response.content_type == "text/csv"
            assert response.headers["Content-Disposition"] == (
                'attachment; filename="liquidation_2026-11-01_2026-11-30.csv"'
            )
            rows = list(csv.reader(io.StringIO(await response.text())))
        assert rows == [
            ["currency", "owed on the first day", "placed during", "recovered",
             "liquidation rate"],
            ["CNY", "CN¥300.00", "CN¥0.00", "CN¥30.00", "0.1000"],
            ["EUR", "€400.00", "€0.00", "€0.00", "0.0000"],
            ["USD", "$1,400.00", "$800.00", "$1,100.00", "0.5000"],
        ]  # fmt: skip
        assert (await _get(admin, f"/console/results/nothing.csv?{NOVEMBER}"))[0] == 404
    finally:
        await admin.close()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("from=2026-13-01&to=2026-11-30", "A date must look like 2026-11-30."),
        ("from=2026-11-30&to=2026-11-01", "The period must start on or before the day it ends."),
        ("from=2024-01-01&to=2026-11-30", "A period may be at most 400 days long."),
        (f"{NOVEMBER}&stage=nonsense", "There is no such stage."),
        (f"{NOVEMBER}&locale=%3Cscript%3E", "There is no such language."),
    ],
)
async def test_bad_filters_get_a_polite_answer(server, query: str, said: str) -> None:
    admin = await signed_in(server, "grace")
    try:
        status, _, page = await _get(admin, f"/console/results?{query}")
        assert status == 200
        assert f"{said} Showing the last 30 days instead." in page
        assert "<script>" not in page.split("<body", 1)[1].replace("<script src=", "")
        status, _, text = await _get(admin, f"/console/results/section/queue?{query}", PAGE)
        assert (status, text) == (400, said)
    finally:
        await admin.close()


def test_csv_cells_never_start_a_formula() -> None:
    table = Table(
        "t", "T", ["reason", "n", "share"], [["=HYPERLINK(1)", -3, 0.25], ["@x", 1, None]]
    )
    assert to_csv(table) == "reason,n,share\r\n'=HYPERLINK(1),-3,0.2500\r\n'@x,1,\r\n"
