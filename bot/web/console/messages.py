"""The admins' message templates: the list, the editor with its live preview, versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Debtor, StaffUser
from bot.i18n import FALLBACK_LOCALE, SUPPORTED_LOCALES
from bot.services import templates as service
from bot.templates import versions
from bot.templates.catalog import MESSAGES
from bot.templates.checks import Finding
from bot.templates.store import forget_cached_templates
from bot.web.console import Console, console_of, typed
from bot.web.console.auth import require_role, signed
from bot.web.console.experiments import panel as experiment_panel
from bot.web.console.telegram_view import message_html

MAX_BODY = 20_000


def add_routes(app: web.Application) -> None:
    """The template pages' routes on the console sub-application."""
    one = "/templates/{key:[a-z][a-z0-9_]*}/{locale:[A-Za-z_]+}"
    app.router.add_get("/templates", listing)
    app.router.add_get(one, editor)
    app.router.add_post(one + "/preview", preview)
    app.router.add_post(one, save)
    app.router.add_post(one + "/publish/{version:\\d+}", publish)
    app.router.add_post(one + "/revert/{version:\\d+}", revert)
    app.router.add_get(one + "/compare", compare)


async def _names(s: AsyncSession) -> dict[int, str]:
    rows = await s.execute(select(StaffUser.id, StaffUser.display_name))
    return {staff_id: name for staff_id, name in rows.all()}


@require_role("admin")
async def listing(request: web.Request) -> web.Response:
    """Every message with, per language, the version in use and what is waiting."""
    console = console_of(request)
    async with console.sessions() as s:
        saved = await versions.every_saved(s)
        names = await _names(s)
    rows = []
    for key, spec in MESSAGES.items():
        cells = []
        for locale in SUPPORTED_LOCALES:
            history = saved.get((key, locale), [])
            live = versions.live_of(history, key, locale)
            newest = history[0].version if history else 0
            cells.append(
                {
                    "locale": locale,
                    "live": live,
                    "by": names.get(live.row.published_by) if live and live.row else None,
                    "drafts": sum(
                        1
                        for r in history
                        if r.published_at is None and live and r.version > live.version
                    ),
                    "newest": newest,
                }
            )
        rows.append({"key": key, "purpose": spec.purpose, "cells": cells})
    return aiohttp_jinja2.render_template(
        "templates.html",
        request,
        {
            "nav": "templates",
            "rows": rows,
            "locales": SUPPORTED_LOCALES,
            "fallback": FALLBACK_LOCALE,
        },
    )


def _target(request: web.Request) -> tuple[str, str]:
    key, locale = request.match_info["key"], request.match_info["locale"]
    if key not in MESSAGES or locale not in SUPPORTED_LOCALES:
        raise web.HTTPNotFound(text="No such message or language.")
    return key, locale


async def _reader(
    s: AsyncSession, console: Console, key: str, locale: str, ref: str
) -> tuple[service.Reader, str | None]:
    """The sample, or the debtor ``ref`` names; a sentence when that debtor does not exist."""
    creditor = console.settings.creditor_name
    ref = ref.strip()
    if ref:
        debtor = await s.scalar(select(Debtor).where(Debtor.debtor_ref == ref))
        if debtor is not None:
            today = console.clock().astimezone(ZoneInfo(debtor.timezone)).date()
            reader = await service.debtor_reader(
                s, key, locale, debtor, policy=console.policy, today=today, creditor=creditor
            )
            return reader, None
        missing = f"No debtor has the reference “{ref}”; showing the sample instead."
        return await service.sample_reader(s, key, locale, creditor), missing
    return await service.sample_reader(s, key, locale, creditor), None


def _finding(f: Finding) -> dict[str, object]:
    return asdict(f)


def _preview_json(found: service.Preview, problem: str | None) -> dict[str, object]:
    return {
        "reader": found.reader,
        "html": str(message_html(found.text, found.entities)) if found.text is not None else None,
        "length": found.length,
        "limit": service.TELEGRAM_LIMIT,
        "buttons": found.buttons,
        "findings": [_finding(f) for f in found.findings],
        "notes": ([problem] if problem else []) + found.notes,
        "publishable": found.publishable,
    }


async def _render_preview(
    s: AsyncSession, console: Console, key: str, locale: str, body: str, ref: str
) -> dict[str, object]:
    reader, problem = await _reader(s, console, key, locale, ref)
    found = await service.preview(
        s, key, locale, body, reader, payment_url_template=console.settings.payment_url_template
    )
    return _preview_json(found, problem)


async def _editor_context(
    request: web.Request,
    s: AsyncSession,
    key: str,
    locale: str,
    *,
    body: str | None = None,
    comment: str = "",
    based_on: int | None = None,
    refused: list[Finding] | None = None,
    flash: str | None = None,
    experiment_error: str | None = None,
) -> dict[str, object]:
    console = console_of(request)
    history = await versions.history(s, key, locale)
    live = versions.live_of(history, key, locale)
    asked = request.query.get("version", "")
    problem = None
    if body is None:
        if asked.isdigit():
            try:
                body, based_on = await versions.body_of(s, key, locale, int(asked)), int(asked)
            except versions.VersionError as exc:
                problem = str(exc)
        if body is None:
            fallback = live or versions.live_of([], key, FALLBACK_LOCALE)
            body = fallback.body if fallback else ""
            based_on = live.version if live else None
    ref = request.query.get("debtor", "")
    shown = await _render_preview(s, console, key, locale, body, ref)
    if refused is not None:
        shown["findings"] = [_finding(f) for f in refused]
    names = await _names(s)
    newer_draft = next(
        (r for r in history if r.published_at is None and live and r.version > live.version), None
    )
    return {
        "nav": "templates",
        "key": key,
        "locale": locale,
        "locales": SUPPORTED_LOCALES,
        "spec": MESSAGES[key],
        "variables": MESSAGES[key].variables(),
        "body": body,
        "comment": comment,
        "based_on": based_on,
        "live": live,
        "missing": live is None,
        "fallback": FALLBACK_LOCALE,
        "history": history,
        "names": names,
        "newer_draft": newer_draft if newer_draft and newer_draft.version != based_on else None,
        "preview": shown,
        # Built from the parsed message with every character escaped (telegram_view).
        "preview_html": Markup(shown["html"]) if shown["html"] is not None else None,
        "debtor_ref": ref,
        "refused": refused is not None,
        "flash": flash or _flash(request.query),
        "problem": problem,
        "experiment": await experiment_panel(
            s,
            console.policy,
            key,
            locale,
            live,
            history,
            error=experiment_error,
            started=request.query.get("experiment") == "started",
        ),
    }


def _flash(query: Mapping[str, str]) -> str | None:
    if query.get("published"):
        return f"Version {query['published']} is live. Debtors read it from now on."
    if query.get("saved"):
        return f"Saved as draft version {query['saved']}. It goes live when you publish it."
    if query.get("reverted"):
        return f"Reverted: version {query['reverted']} is live, with the old text."
    return None


@require_role("admin")
async def editor(request: web.Request) -> web.Response:
    """One message in one language: the text, its preview and checks, and its versions."""
    key, locale = _target(request)
    async with console_of(request).sessions() as s:
        context = await _editor_context(request, s, key, locale)
    return aiohttp_jinja2.render_template("template_editor.html", request, context)


@require_role("admin")
async def preview(request: web.Request) -> web.Response:
    """The text being typed, rendered and checked (the editor asks as the admin types)."""
    key, locale = _target(request)
    form = await request.post()
    body = typed(form, "body")[: MAX_BODY + 1]
    console = console_of(request)
    async with console.sessions() as s:
        shown = await _render_preview(s, console, key, locale, body, str(form.get("debtor", "")))
    return web.json_response(shown)


def _here(key: str, locale: str, **query: object) -> str:
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/console/templates/{key}/{locale}" + (f"?{tail}" if tail else "")


@require_role("admin")
async def save(request: web.Request) -> web.Response:
    """Save the text as a draft, or save and publish it when every check passes."""
    key, locale = _target(request)
    console, staff = console_of(request), signed(request)
    form = await request.post()
    body = typed(form, "body")
    comment = str(form.get("comment", ""))
    based = str(form.get("based_on", ""))
    based_on = int(based) if based.isdigit() else None
    now = console.clock()
    try:
        async with console.sessions.begin() as s:
            if form.get("action") == "publish":
                row, refused = await service.save_and_publish(
                    s, key, locale, body, comment=comment, based_on=based_on,
                    staff_id=staff.id, now=now,
                )  # fmt: skip
            else:
                row, refused = await service.save(
                    s, key, locale, body, comment=comment, based_on=based_on,
                    staff_id=staff.id, now=now,
                ), []  # fmt: skip
    except versions.VersionError as exc:
        return await _again(request, key, locale, body, comment, based_on, flash=str(exc))
    if refused:
        return await _again(request, key, locale, body, comment, based_on, refused=refused)
    if form.get("action") == "publish":
        forget_cached_templates()
        raise web.HTTPSeeOther(_here(key, locale, version=row.version, published=row.version))
    raise web.HTTPSeeOther(_here(key, locale, version=row.version, saved=row.version))


async def _again(
    request: web.Request,
    key: str,
    locale: str,
    body: str,
    comment: str,
    based_on: int | None,
    **shown: object,
) -> web.Response:
    """The editor again with what was typed, and why it did not go through."""
    async with console_of(request).sessions() as s:
        context = await _editor_context(
            request, s, key, locale, body=body, comment=comment, based_on=based_on, **shown
        )
    return aiohttp_jinja2.render_template(
        "template_editor.html", request, context, status=400 if shown.get("refused") else 409
    )


async def with_experiment_error(
    request: web.Request, key: str, locale: str, message: str
) -> web.Response:
    """The editor again, its experiment panel saying why the experiment did not start."""
    async with console_of(request).sessions() as s:
        context = await _editor_context(request, s, key, locale, experiment_error=message)
    return aiohttp_jinja2.render_template("template_editor.html", request, context, status=409)


async def _version_action(request: web.Request, reverting: bool) -> web.Response:
    key, locale = _target(request)
    console, staff = console_of(request), signed(request)
    version = int(request.match_info["version"])
    now = console.clock()
    try:
        async with console.sessions.begin() as s:
            if reverting:
                row, refused = await service.revert(
                    s, key, locale, version, staff_id=staff.id, now=now
                )
                live_version = row.version if row else None
            else:
                refused = await service.publish(
                    s, key, locale, version, staff_id=staff.id, now=now
                )
                live_version = version
    except versions.VersionError as exc:
        return await _again_version(request, key, locale, version, flash=str(exc))
    if refused:
        return await _again_version(request, key, locale, version, refused=refused)
    forget_cached_templates()
    done = {"reverted": live_version} if reverting else {"published": live_version}
    raise web.HTTPSeeOther(_here(key, locale, version=live_version, **done))


async def _again_version(
    request: web.Request, key: str, locale: str, version: int, **shown: object
) -> web.Response:
    async with console_of(request).sessions() as s:
        try:
            body = await versions.body_of(s, key, locale, version)
        except versions.VersionError:
            body = None
        context = await _editor_context(
            request, s, key, locale, body=body, based_on=version, **shown
        )
    status = 400 if shown.get("refused") else 404
    return aiohttp_jinja2.render_template("template_editor.html", request, context, status=status)


@require_role("admin")
async def publish(request: web.Request) -> web.Response:
    """Make a saved draft live, if every check passes."""
    return await _version_action(request, reverting=False)


@require_role("admin")
async def revert(request: web.Request) -> web.Response:
    """Save an old version's text again as the newest version, and make it live."""
    return await _version_action(request, reverting=True)


@require_role("admin")
async def compare(request: web.Request) -> web.Response:
    """A line diff of two versions (0: the shipped text)."""
    key, locale = _target(request)
    async with console_of(request).sessions() as s:
        history = await versions.history(s, key, locale)
        live = versions.live_of(history, key, locale)
        numbers = [0, *sorted(r.version for r in history)]
        old = _number(request.query.get("a"), numbers[-2] if len(numbers) > 1 else 0)
        new = _number(request.query.get("b"), live.version if live else numbers[-1])
        try:
            old_body = await versions.body_of(s, key, locale, old)
            new_body = await versions.body_of(s, key, locale, new)
        except versions.VersionError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
    context = {
        "nav": "templates", "key": key, "locale": locale, "a": old, "b": new,
        "numbers": numbers, "lines": versions.compare(old_body, new_body),
        "live": live,
    }  # fmt: skip
    return aiohttp_jinja2.render_template("template_compare.html", request, context)


def _number(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default
