"""The sandbox message templates run in: what Jinja's sandbox refuses, and the machine's limits.

Jinja's ``ImmutableSandboxedEnvironment`` already refuses attributes starting with ``_``,
Python internals and changing lists or dicts. It bounds ``range`` but not operators, so
``{{ 'a' * 1000000000 }}`` would run for seconds and take a gigabyte. Here every way a template
can make something big or slow is bounded *before* the work is done:

- only the template language a message needs: ``{{ }}``, ``if``, ``for`` (not recursive) and
  ``set``; macros, call and filter blocks, includes, imports and ``autoescape`` are refused
  when the text is compiled, with their line;
- operators that grow a value (``*``, ``**``, ``+``, ``~``), filters and method calls are
  checked against the size of what they would make (``MAX_SIZE`` characters or items,
  ``MAX_INT_BITS`` for whole numbers); ``%`` formatting and ``str.format`` are not offered;
- only a short list of filters and of plain methods of text, lists and dicts;
- per render, at most ``MAX_ITERATIONS`` loop turns, ``MAX_OUTPUT`` characters of output and
  ``DEADLINE_SECONDS`` of processor time. The time is the rendering thread's own
  (``time.thread_time``), not the clock on the wall: a busy machine, another process or a
  thread holding the GIL never makes a good template fail, which would fail a reminder.

A refusal is a ``SecurityError`` (a ``TemplateError``), turned into a ``RenderError`` with the
template's line by ``bot.templates.renderer``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace

MAX_SOURCE = 20_000
MAX_SIZE = 100_000
MAX_INT_BITS = 128  # 38 digits: far more than any amount in minor units
MAX_RANGE = 10_000
MAX_ITERATIONS = 20_000
MAX_OUTPUT = 200_000
DEADLINE_SECONDS = 0.25

# Jinja's own filters a message may use (with ``money``, ``date`` and ``number`` of ours).
ALLOWED_FILTERS = (
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
    "float", "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max",
    "min", "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort",
    "string", "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode",
    "wordcount",
)  # fmt: skip
# Plain methods a template may call on text, lists and dicts: none of them makes much more.
SAFE_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "get", "index", "isalnum",
        "isalpha", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "items",
        "keys", "lower", "lstrip", "rfind", "rstrip", "split", "startswith", "strip", "swapcase",
        "title", "upper", "values",
    }
)  # fmt: skip
_REFUSED_NODES: dict[type[nodes.Node], str] = {
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}",
    nodes.AssignBlock: "{% set %}…{% endset %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
}
# Names Jinja gives a meaning of its own (``self`` is the template itself).
_SPECIAL_NAMES = frozenset({"self", "caller", "varargs", "kwargs"})
LOOP_GUARD = "nudgebot_loop_guard"


class Refused(TemplateSyntaxError):
    """A construct message templates may not use, refused when the text is compiled."""


class _Budget:
    """What one render may still spend."""

    def __init__(self, seconds: float | None = DEADLINE_SECONDS) -> None:
        self.deadline = None if seconds is None else time.thread_time() + seconds
        self.iterations = 0
        self.output = 0

    def turn(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise SecurityError(f"loops would run more than {MAX_ITERATIONS:,} times in all")
        if not self.iterations % 64:
            self.check_time()

    def check_time(self) -> None:
        if self.deadline is not None and time.thread_time() > self.deadline:
            raise SecurityError(
                f"rendering would take longer than {DEADLINE_SECONDS:g} s; simplify the template"
            )

    def emit(self, length: int) -> None:
        self.output += length
        if self.output > MAX_OUTPUT:
            raise SecurityError(f"the message would be longer than {MAX_OUTPUT:,} characters")


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _spend() -> _Budget:
    budget = _budget.get()
    if budget is None:
        # Outside ``render`` (Jinja finalizing constants while compiling): sizes still count.
        return _Budget(seconds=None)
    budget.check_time()
    return budget


def weight(value: Any, limit: int = MAX_SIZE) -> int:
    """About how many characters ``value`` takes when shown: text by its length, lists and dicts
    by their items' weights (a list repeating one item counts it each time), whole numbers by
    their digits. Stops counting once past ``limit``."""
    memo: dict[int, int] = {}

    def of(v: Any) -> int:
        if isinstance(v, str):
            return len(v)
        if isinstance(v, bool) or v is None:
            return 1
        if isinstance(v, int):
            return max(1, v.bit_length() // 3)
        if isinstance(v, (list, tuple, set, frozenset, dict)):
            key = id(v)
            if key in memo:
                return memo[key]
            items = list(v.items()) if isinstance(v, dict) else v
            total = len(v)
            for item in items:
                if isinstance(item, tuple) and isinstance(v, dict):
                    total += of(item[0]) + of(item[1])
                else:
                    total += of(item)
                if total > limit:
                    break
            memo[key] = total
            return total
        return 1

    return of(value)


def _refuse_size(what: str) -> SecurityError:
    return SecurityError(f"{what} would make a value of over {MAX_SIZE:,} characters or items")


def _bounded(value: Any, what: str) -> Any:
    if weight(value) > MAX_SIZE:
        raise _refuse_size(what)
    return value


def _number_arguments(name: str, args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_SIZE:
            raise SecurityError(f"{name} was given {arg:,}; numbers there stop at {MAX_SIZE:,}")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` refusing huge number arguments before it runs and huge results after."""

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _spend()
        _number_arguments(f"the filter {name}", [*_values(args)[1:], *kwargs.values()])
        if name == "replace":
            _before_replace(args, kwargs)
        elif name == "join":
            _before_join(args, kwargs)
        return _bounded(func(*args, **kwargs), f"the filter {name}")

    return guarded


def _values(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # Filters marked pass_context / pass_eval_context / pass_environment get that first.
    return tuple(a for a in args if not isinstance(a, (Context, EvalContext, Environment)))


def _before_replace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = _values(args)
    text, old, new = [*values, kwargs.get("old"), kwargs.get("new")][:3]
    text, old, new = str(text), str(old or ""), str(new or "")
    found = len(text) + 1 if not old else text.count(old)
    if len(text) + found * len(new) > MAX_SIZE:
        raise _refuse_size("the filter replace")


def _before_join(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = _values(args)
    items = values[0] if values else ()
    separator = str(values[1] if len(values) > 1 else kwargs.get("d", ""))
    if isinstance(items, (list, tuple)):
        total = len(separator) * len(items) + weight(list(items))
        if total > MAX_SIZE:
            raise _refuse_size("the filter join")


def _range(*args: int) -> range:
    _number_arguments("range", args)
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(
            f"range() would count {len(numbers):,} numbers; the most is {MAX_RANGE:,}"
        )
    return numbers


class _Counted:
    """A loop's sequence, each turn counted against the render's budget."""

    def __init__(self, iterable: Iterable[Any]) -> None:
        self.iterable = iterable

    def __len__(self) -> int:
        return len(self.iterable)  # type: ignore[arg-type]  # TypeError: LoopContext counts

    def __iter__(self) -> Iterator[Any]:
        budget = _spend()
        for item in self.iterable:
            budget.turn()
            yield item


class _Generator(CodeGenerator):
    """Jinja's code generator with ``~`` joining through the environment's size check."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.joined({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class MessageSandbox(ImmutableSandboxedEnvironment):
    """The environment every message template is compiled and rendered in."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.globals.clear()
        self.globals.update(range=_range, namespace=Namespace, dict=dict)
        self.filters = {name: _guard_filter(name, FILTERS[name]) for name in ALLOWED_FILTERS}
        self.filters[LOOP_GUARD] = _Counted

    def add_filters(self, **filters: Callable[..., Any]) -> None:
        """Offer more filters (ours), guarded like Jinja's."""
        self.filters.update({n: _guard_filter(n, f) for n, f in filters.items()})

    # -- compiling -------------------------------------------------------------------------

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        if len(source) > MAX_SOURCE:
            raise Refused(
                f"the template is {len(source):,} characters long; the most is {MAX_SOURCE:,}", 1
            )
        tree = super()._parse(source, name, filename)
        for node in tree.find_all(tuple(_REFUSED_NODES)):
            raise Refused(
                f"{_REFUSED_NODES[type(node)]} is not available in message templates",
                node.lineno,
            )
        for name in tree.find_all(nodes.Name):
            if name.name in _SPECIAL_NAMES:
                raise Refused(f"{name.name} is not available in message templates", name.lineno)
        for loop in tree.find_all(nodes.For):
            if loop.recursive:
                raise Refused(
                    "recursive loops are not available in message templates", loop.lineno
                )
            loop.iter = nodes.Filter(loop.iter, LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
        return tree

    # -- rendering -------------------------------------------------------------------------

    def render(self, template: Any, context: dict[str, Any]) -> str:
        """Render with a fresh budget, streaming so that output over the limit stops at once.

        The garbage collector waits meanwhile: a collection walks every object of the process
        (tens to hundreds of ms in a big one) and would be charged to whichever template
        happened to be rendering; a render's own allocations are bounded above."""
        collecting = gc.isenabled()
        gc.disable()
        token = _budget.set(_Budget())
        try:
            budget = _spend()
            parts = []
            for part in template.generate(context):
                budget.emit(len(part))
                parts.append(part)
            return "".join(parts)
        finally:
            _budget.reset(token)
            if collecting:
                gc.enable()

    @staticmethod
    def _finalize(value: Any) -> Any:
        _spend()
        return _bounded(value, "showing this value")

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if callable(value) and isinstance(obj, (str, list, tuple, dict, set, frozenset)):
            return attr in SAFE_METHODS
        return True

    def wrap_str_format(self, value: Any) -> None:
        # ``str.format`` is not offered (is_safe_attribute refuses it): filters format values.
        return None

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        result = super().call(__context, __obj, *args, **kwargs)
        return _bounded(result, f"calling {getattr(__obj, '__name__', 'that')}")

    def joined(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        """``a ~ b``: refused before joining when the result would be too big."""
        _spend()
        if sum(weight(p) for p in parts) > MAX_SIZE:
            raise _refuse_size("joining with ~")
        return join(parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _spend()
        _check_binop(operator, left, right)
        try:
            return super().call_binop(context, operator, left, right)
        except OverflowError:
            raise SecurityError(f"the number made with {operator} is too large") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too big, before it is computed."""
    if operator == "%" and isinstance(left, str):
        raise SecurityError("formatting with % is not available; use the filters")
    if operator == "**" and _is_int(left) and _is_int(right):
        if abs(left) > 1 and right > 0 and right * left.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"{left} ** {right} is a number too large to show")
    elif operator == "*":
        if (_is_sequence(left) and _is_int(right)) or (_is_int(left) and _is_sequence(right)):
            sequence, times = (left, right) if _is_sequence(left) else (right, left)
            if times > 0 and times * max(weight(sequence), 1) > MAX_SIZE:
                raise _refuse_size("repeating with *")
        elif _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError("the product is a number too large to show")
    elif operator == "+" and _is_sequence(left) and _is_sequence(right):
        if weight(left) + weight(right) > MAX_SIZE:
            raise _refuse_size("adding with +")
