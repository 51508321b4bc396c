"""Reading creditor CSV files row by row, reporting every problem with its line and column."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BOMS = {b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


@dataclass(frozen=True)
class RowError:
    """One problem in one row: where, which column, and why."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class CsvRow:
    """A row whose fields line up with the header; values are stripped of outer spaces."""

    line: int
    values: dict[str, str]


class CsvFileError(Exception):
    """The file as a whole cannot be read (empty, not UTF-8, a required column missing)."""


@dataclass(frozen=True)
class Header:
    """A file's header row, checked: which field of a row holds which column we read."""

    kept: tuple[tuple[int, str], ...]  # (field index, column name)
    width: int  # fields a row must have
    line: int  # the header's last physical line


def read_rows(
    source: Path | BinaryIO,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    on_bytes: Callable[[int], object] | None = None,
) -> Iterator[CsvRow | RowError]:
    """Yield each data row of a UTF-8 CSV file (BOM optional), or the error that spoils it."""
    stream = source.open("rb") if isinstance(source, Path) else source
    try:
        lines = _counted(stream, on_bytes)
        header = _header(lines, required, optional)
        yield from rows_in(lines, header.line + 1, header)
    finally:
        if isinstance(source, Path):
            stream.close()


def read_chunks(
    source: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    on_bytes: Callable[[int], object] | None = None,
    *,
    lines: int = 5000,
) -> Iterator[tuple[Header, int, list[bytes]]]:
    """The file's header, checked as :func:`read_rows` checks it, then its data as chunks of
    about ``lines`` raw lines each: (header, first line number, lines). A chunk ends only where
    a row ends, so :func:`rows_in` reads each chunk on its own (in another process, say) with
    the rows, errors and line numbers :func:`read_rows` gives."""
    with source.open("rb") as stream:
        raw_lines = _counted(stream, on_bytes)
        header = _header(raw_lines, required, optional)
        first, chunk, quoted = header.line + 1, [], False
        for raw in raw_lines:
            chunk.append(raw)
            quoted = _still_quoted(raw, quoted)
            if len(chunk) >= lines and not quoted:
                yield header, first, chunk
                first, chunk = first + len(chunk), []
        if chunk:
            yield header, first, chunk


def _counted(stream: BinaryIO, on_bytes: Callable[[int], object] | None) -> Iterator[bytes]:
    for raw in stream:
        if on_bytes is not None:
            on_bytes(len(raw))
        yield raw


_QUOTE, _COMMA, _BREAKS = ord('"'), ord(","), (ord("\n"), ord("\r"))


def _still_quoted(raw: bytes, quoted: bool) -> bool:
    """Whether a row goes on past this line, inside a quoted field, as Python's csv (excel
    dialect, strict) reads it. A quote inside an unquoted field is an ordinary character; a
    row whose quoting is wrong ends with its line, as csv's error does."""
    if _QUOTE not in raw:
        return quoted
    state = "quoted" if quoted else "start"
    for byte in raw:
        if state == "quoted":
            if byte == _QUOTE:
                state = "closing"
        elif state == "closing":  # a quote inside a quoted field: doubled, or its end
            if byte == _QUOTE:
                state = "quoted"
            elif byte == _COMMA:
                state = "start"
            else:
                return False
        elif byte in _BREAKS:
            return False
        elif byte == _COMMA:
            state = "start"
        elif state == "start":
            state = "quoted" if byte == _QUOTE else "field"
    return state == "quoted"


def _header(
    lines: Iterator[bytes], required: tuple[str, ...], optional: tuple[str, ...]
) -> Header:
    bad_lines: dict[int, str] = {}
    reader = csv.reader(_decoded(lines, 1, bad_lines), strict=True)
    try:
        fields = next(reader)
    except StopIteration:
        raise CsvFileError("the file is empty: expected a header row") from None
    except csv.Error as exc:
        raise CsvFileError(f"line 1: the header row cannot be read: {_csv_problem(exc)}") from None
    if 1 in bad_lines:
        raise CsvFileError(f"line 1: {bad_lines[1]}; save the file as UTF-8")
    columns = [name.strip().lstrip("\ufeff").lower() for name in fields]
    missing = [name for name in required if name not in columns]
    if missing:
        raise CsvFileError(f"line 1: missing column(s): {', '.join(missing)}")
    duplicated = sorted({name for name in columns if name and columns.count(name) > 1})
    if duplicated:
        raise CsvFileError(f"line 1: column(s) named twice: {', '.join(duplicated)}")
    known = set(required) | set(optional)
    kept = tuple((index, name) for index, name in enumerate(columns) if name in known)
    return Header(kept, len(columns), reader.line_num)


def rows_in(
    raw_lines: Iterable[bytes], first_line: int, header: Header
) -> Iterator[CsvRow | RowError]:
    """The rows of a file's data lines (the file's line ``first_line`` first)."""
    bad_lines: dict[int, str] = {}
    reader = csv.reader(_decoded(raw_lines, first_line, bad_lines), strict=True)
    kept, width, before = header.kept, header.width, first_line - 1
    last_line = before
    while True:
        line = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = before + reader.line_num
            yield RowError(line, None, f"the row cannot be read: {_csv_problem(exc)}")
            continue
        last_line = before + reader.line_num
        encoding_problem = bad_lines and next(
            (bad_lines[n] for n in range(line, last_line + 1) if n in bad_lines), None
        )
        if encoding_problem:
            yield RowError(line, None, encoding_problem)
        elif not fields or all(not field.strip() for field in fields):
            continue  # blank lines are not rows
        elif len(fields) != width:
            yield RowError(line, None, f"has {len(fields)} fields but the header has {width}")
        else:
            yield CsvRow(line, {name: fields[index].strip() for index, name in kept})


def _csv_problem(exc: csv.Error) -> str:
    """What Python's csv module reports, in the words of someone who saved a sheet."""
    said = str(exc)
    if said.startswith("new-line character seen in unquoted field"):
        return "a line break inside a field that is not in quotes"
    if "NUL" in said:
        return "it holds binary data (a NUL byte)"
    return said


def _decoded(
    raw_lines: Iterable[bytes], first_line: int, bad_lines: dict[int, str]
) -> Iterator[str]:
    """Decode line by line so one badly encoded line spoils only its own row; the file's
    first line is checked for binary data and byte order marks."""
    for number, raw in enumerate(raw_lines, start=first_line):
        if number == 1:
            if b"\x00" in raw[:4096] and not any(raw.startswith(bom) for bom in _BOMS):
                raise CsvFileError(
                    "this is not a CSV file but binary data; export the sheet as CSV (UTF-8)"
                )
            for bom, name in _BOMS.items():
                if raw.startswith(bom):
                    bad_lines[1] = f"the file is {name}, not UTF-8"
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_lines.setdefault(
                number,
                (
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02X} at position {exc.start + 1});"
                    " the row was skipped"
                ),
            )
            text = raw.decode("utf-8", errors="replace")
        yield text
