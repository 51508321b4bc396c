"""A file read in chunks (each chunk on its own, as a worker process reads it) gives exactly
the rows, errors and line numbers of the file read in one go, however its quoting goes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.accounts.csvfile import read_chunks, read_rows, rows_in

COLUMNS = ("a", "b")
# Pieces a creditor's export is made of, good and bad: quoted fields with commas, doubled
# quotes and line breaks, a quote inside an unquoted field, a quote closed too early, blank
# lines, carriage returns, bytes that are not UTF-8.
PIECES = st.sampled_from(
    ["x", "y z", ",", '"', '""', '"q,1"', '"multi\nline"', '5" screen', '"bad"tail', "\n",
     "\r\n", "\r", "  ", "\n\n", "é", "\xff"]
)  # fmt: skip


def _both(tmp_path: Path, body: bytes, lines: int) -> tuple[list, list]:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n" + body)
    whole = list(read_rows(path, COLUMNS))
    chunked = [
        row
        for header, first, chunk in read_chunks(path, COLUMNS, lines=lines)
        for row in rows_in(chunk, first, header)
    ]
    return whole, chunked


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=40), lines=st.integers(1, 4))
@example(pieces=['"multi\nline"', ",", "x", "\n", "y", ",", "z", "\n"], lines=1)
@example(pieces=['5" screen', ",", '"multi\nline"', "\n", "x,y\n"], lines=1)
def test_chunks_read_as_the_whole_file_does(tmp_path_factory, pieces, lines):
    body = (
        "".join(pieces).encode("utf-8", errors="surrogateescape").replace("\xff".encode(), b"\xff")
    )
    whole, chunked = _both(tmp_path_factory.mktemp("csv"), body, lines)
    assert chunked == whole


def test_a_quoted_line_break_keeps_its_row_in_one_chunk(tmp_path):
    body = b'x,"one\ntwo\nthree"\ny,z\n'
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n" + body)

    chunks = [(first, len(chunk)) for _, first, chunk in read_chunks(path, COLUMNS, lines=1)]

    assert chunks == [(2, 3), (5, 1)]
