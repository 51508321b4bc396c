"""Benchmark: what the template editor costs, and what a hostile template costs.

(a) Checks: every shipped text in every language through every check (``check_body``), as the
    editor's preview does on each pause in typing; printed per text (median and slowest) and
    for all of them, against the pause the editor waits before asking (200 ms).
(b) Refusals: every exhaustion attempt of the sandbox's tests (huge strings, powers, ranges,
    loops, output, recursion, a 25,000-character body) rendered in the sandbox; printed for the
    slowest (as a ratio of the sandbox's own budget, 0.25 s) and the most memory-hungry (as a
    ratio of the largest text the sandbox lets a template write, 200,000 characters).

    python bench/templates.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.i18n import SUPPORTED_LOCALES
from bot.templates.catalog import MESSAGES
from bot.templates.checks import check_body
from bot.templates.renderer import RenderError, default_body, render_body
from bot.templates.sandbox import DEADLINE_SECONDS as DEADLINE
from bot.templates.sandbox import MAX_OUTPUT
from tests.templates.test_sandbox import BOMBS, SECRET

EDITOR_PAUSE = 0.2  # seconds of no typing before the editor asks for a preview (templates.js)


def measured(work) -> tuple[float, int]:
    """Processor seconds of this thread (how the sandbox counts its budget) for one call, and
    the peak traced bytes of another (tracing slows allocation, so not in the same call)."""
    began = time.thread_time()
    work()
    seconds = time.thread_time() - began
    tracemalloc.start()
    try:
        work()
        return seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def checks(repeat: int) -> None:
    texts = [
        (key, locale, body)
        for key in sorted(MESSAGES)
        for locale in SUPPORTED_LOCALES
        if (body := default_body(key, locale)) is not None
    ]
    check_body(*texts[0])  # the tone lists and the compiled catalog, once per process
    per_text: list[float] = []
    totals: list[float] = []
    for _ in range(repeat):
        began = time.perf_counter()
        for key, locale, body in texts:
            one = time.perf_counter()
            assert check_body(key, locale, body) == [], (key, locale)
            per_text.append(time.perf_counter() - one)  # the admin waits on the wall clock
        totals.append(time.perf_counter() - began)
    slowest = max(per_text)
    print(f"(a) checks of {len(texts)} shipped texts, {repeat} rounds")
    print(f"    per text: median {statistics.median(per_text) * 1000:.2f} ms,"
          f" slowest {slowest * 1000:.2f} ms = {slowest / EDITOR_PAUSE:.3f} of the editor's"
          f" {EDITOR_PAUSE * 1000:.0f} ms pause")  # fmt: skip
    print(f"    all texts: median {statistics.median(totals) * 1000:.0f} ms")


def refusals() -> None:
    _, largest_bytes = measured(lambda: "x" * MAX_OUTPUT)
    worst_s, worst_b = 0.0, 0
    for bomb in BOMBS:

        def attempt(bomb: str = bomb) -> None:
            try:
                render_body("verified", bomb, "en", SECRET)
            except RenderError:
                return
            raise AssertionError(f"not refused: {bomb[:60]!r}")

        seconds, peak = measured(attempt)
        worst_s, worst_b = max(worst_s, seconds), max(worst_b, peak)
    print(f"(b) {len(BOMBS)} exhaustion attempts, every one refused")
    print(f"    slowest refusal {worst_s * 1000:.1f} ms = {worst_s / DEADLINE:.2f} of the"
          f" sandbox's {DEADLINE * 1000:.0f} ms budget")  # fmt: skip
    print(f"    largest peak {worst_b / 1e6:.2f} MB = {worst_b / largest_bytes:.1f}x the"
          f" largest text a template may write ({MAX_OUTPUT:,} characters)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    checks(args.repeat)
    refusals()


if __name__ == "__main__":
    main()
