"""The sandbox refuses template injection and every way to exhaust the machine, quickly and
without allocating what was asked for; the bot's own templates render as before."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

from bot.templates.checks import check_body
from bot.templates.renderer import RenderError, render_body

SECRET = {"first_name": "Alice", "creditor": "Acme Lending"}

INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self }}",
    "{{ request }}",
    "{{ lipsum.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ first_name['__class__'] }}",
    "{{ first_name.__class__.__base__.__subclasses__() }}",
    "{{ config.items() }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ (first_name|attr('__class__')).__mro__ }}",
    "{{ '{0.__class__}'.format(first_name) }}",
    "{{ namespace.__init__.__globals__ }}",
]

BOMBS = [
    "{{ 'a' * 1000000000 }}",
    "{{ 10**10**10 }}",
    "{{ 10**(10**10) }}",
    "{{ 9.0 ** 99999 }}",
    "{{ range(10**9)|list }}",
    "{{ range(10**9)|length }}",
    "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{{ 'a'.center(10**9) }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ 'a'|center(1000000000) }}",
    "{{ 'a'|indent(1000000000) }}",
    "{{ 'a'|format(1) }}",
    "{{ 'aaaaaaaaaa'" + "|replace('a', 'aaaaaaaaaa')" * 9 + " }}",
    "{{ 'x'|replace('', 'y' * 99999) }}",
    "{{ ([1] * 99999)|join('x' * 99999) }}",
    "{{ [[1] * 99999] * 99999 }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% for i in range(10000) %}{{ 'x' * 99999 }}{% endfor %}",
    "{% set a = 'x' * 99999 %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c }}",
    "{{ lipsum(n=100000) }}",
    "x" * 25_000,
]


@pytest.mark.parametrize("body", INJECTIONS)
def test_template_injection_is_refused_by_the_checks_and_raises_in_the_sandbox(body):
    findings = check_body("verified", "en", body)
    assert findings and findings[0].check in ("unsafe", "unknown", "syntax"), findings
    with pytest.raises(RenderError) as refused:
        render_body("verified", body, "en", SECRET)
    for leak in ("<class", "subclasses", "<built-in", "function", "TemplateReference"):
        assert leak not in str(refused.value)


@pytest.mark.parametrize("body", BOMBS, ids=range(len(BOMBS)))
def test_what_would_exhaust_the_machine_is_refused_quickly_without_allocating_it(body):
    tracemalloc.start()
    # The processor time this thread spent (the sandbox's budget is counted the same way), so
    # that a busy machine does not make a quick refusal look slow.
    began = time.thread_time()
    try:
        with pytest.raises(RenderError) as refused:
            render_body("verified", body, "en", SECRET)
        seconds = time.thread_time() - began
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1.0, (seconds, str(refused.value))
    assert peak < 50_000_000, (peak, str(refused.value))
    assert check_body("verified", "en", body)  # and the checks refuse it too


def test_refusals_name_what_was_refused_and_its_line():
    cases = {
        "Hello\n{{ 'a' * 1000000000 }}": "line 2: repeating with * would make a value of over",
        "{{ range(10**9)|list }}": "range was given 1,000,000,000",
        "{% macro f() %}{% endmacro %}": "{% macro %} is not available in message templates",
        "\n\n{{ ''.__class__ }}": "line 3: access to attribute '__class__'",
    }
    for body, said in cases.items():
        with pytest.raises(RenderError) as refused:
            render_body("k", body, "en", {})
        assert said in str(refused.value), str(refused.value)


def test_what_messages_need_still_works():
    body = (
        "{% set ns = namespace(total=0) %}{% for a in accounts if a.amount_minor > 0 %}"
        "{% set ns.total = ns.total + a.amount_minor %}{{ loop.index }}. {{ a.ref|upper }} "
        "{{ a.amount_minor|money('USD') }}{{ ', ' if not loop.last }}{% endfor %} = "
        "{{ ns.total|money('USD') }} · {{ names|join(', ') }} · {{ (7 * 3) ~ '!' }} · "
        "{{ 'Late' if days > 5 else 'Soon' }} · {{ first.split()[0]|title }} · {{ range(3)|sum }}"
    )
    context = {
        "accounts": [{"ref": "a-1", "amount_minor": 150}, {"ref": "a-2", "amount_minor": 1000}],
        "names": ["Ann", "Bo"], "days": 8, "first": "ada lovelace",
    }  # fmt: skip
    assert render_body("k", body, "en", context) == (
        "1. A-1 $1.50, 2. A-2 $10.00 = $11.50 · Ann, Bo · 21! · Late · Ada · 3"
    )


def test_a_render_is_never_charged_for_collecting_the_whole_process_garbage():
    from bot.templates import sandbox
    from bot.templates.catalog import MESSAGES
    from bot.templates.renderer import default_body

    body, context = (
        default_body("accounts_block", "en"),
        MESSAGES["accounts_block"].largest_sample(),
    )
    render_body("accounts_block", body, "en", context)  # compiled, Babel's data loaded
    during: list[int] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start" and sandbox._budget.get() is not None:
            during.append(info["generation"])

    threshold = gc.get_threshold()
    gc.callbacks.append(watch)
    gc.set_threshold(1)  # a collection at nearly every allocation
    try:
        render_body("accounts_block", body, "en", context)
        collecting_after = gc.isenabled()
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(watch)
    assert during == [] and collecting_after
