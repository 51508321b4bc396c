"""Reading creditor CSV files row by row, reporting every problem with its line and column."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
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


def read_rows(
    source: Path | BinaryIO,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    on_bytes: Callable[[int], object] | None = None,
) -> Iterator[CsvRow | RowError]:
    """Yield each data row of a UTF-8 CSV file (BOM optional), or the error that spoils it."""
    stream = source.open("rb") if isinstance(source, Path) else source
    try:
        yield from _rows(stream, required, optional, on_bytes)
    finally:
        if isinstance(source, Path):
            stream.close()


def _rows(
    stream: BinaryIO,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    on_bytes: Callable[[int], object] | None,
) -> Iterator[CsvRow | RowError]:
    bad_lines: dict[int, str] = {}
    lines = _decoded_lines(stream, bad_lines, on_bytes)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError("the file is empty: expected a header row") from None
    except csv.Error as exc:
        raise CsvFileError(f"line 1: the header row cannot be read: {_csv_problem(exc)}") from None
    if 1 in bad_lines:
        raise CsvFileError(f"line 1: {bad_lines[1]}; save the file as UTF-8")
    columns = [name.strip().lstrip("\ufeff").lower() for name in header]
    missing = [name for name in required if name not in columns]
    if missing:
        raise CsvFileError(f"line 1: missing column(s): {', '.join(missing)}")
    duplicated = sorted({name for name in columns if name and columns.count(name) > 1})
    if duplicated:
        raise CsvFileError(f"line 1: column(s) named twice: {', '.join(duplicated)}")
    known = set(required) | set(optional)
    kept = [(index, name) for index, name in enumerate(columns) if name in known]
    last_line = reader.line_num
    while True:
        first_line = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield RowError(first_line, None, f"the row cannot be read: {_csv_problem(exc)}")
            continue
        last_line = reader.line_num
        encoding_problem = bad_lines and next(
            (bad_lines[n] for n in range(first_line, last_line + 1) if n in bad_lines), None
        )
        if encoding_problem:
            yield RowError(first_line, None, encoding_problem)
        elif not fields or all(not field.strip() for field in fields):
            continue  # blank lines are not rows
        elif len(fields) != len(columns):
            yield RowError(
                first_line, None, f"has {len(fields)} fields but the header has {len(columns)}"
            )
        else:
            yield CsvRow(first_line, {name: fields[index].strip() for index, name in kept})


def _csv_problem(exc: csv.Error) -> str:
    """What Python's csv module reports, in the words of someone who saved a sheet."""
    said = str(exc)
    if said.startswith("new-line character seen in unquoted field"):
        return "a line break inside a field that is not in quotes"
    if "NUL" in said:
        return "it holds binary data (a NUL byte)"
    return said


def _decoded_lines(
    stream: BinaryIO, bad_lines: dict[int, str], on_bytes: Callable[[int], None] | None
) -> Iterator[str]:
    """Decode line by line so one badly encoded line spoils only its own row."""
    for number, raw in enumerate(stream, start=1):
        if on_bytes is not None:
            on_bytes(len(raw))
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
