"""A file one side fills while a thread reads it: waits, order, and a broken transfer."""

from __future__ import annotations

import threading
import time

import pytest

from shared.filling_file import FillingFile, TransferFailed


def _read_in_thread(file: FillingFile, size: int) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(file.read(size) or b""))
    reader.start()
    return reader, got


def test_a_read_waits_for_bytes_that_have_not_arrived() -> None:
    file = FillingFile()
    reader, got = _read_in_thread(file, 5)
    time.sleep(0.05)
    assert got == []  # still waiting

    file.append(b"hello world")
    reader.join(5)

    assert got == [b"hello"]
    file.close()


def test_what_arrived_is_read_in_order_and_the_end_reads_empty() -> None:
    file = FillingFile()
    for part in (b"ab", b"cd", b"ef"):
        file.append(part)
    file.finish()

    assert file.read(3) == b"abc"
    assert file.tell() == 3
    assert file.read() == b"def"
    assert file.read(1) == b""
    file.seek(1)
    assert file.read(2) == b"bc"
    file.close()


def test_a_broken_transfer_wakes_the_reader_with_its_error() -> None:
    file = FillingFile()
    file.append(b"partial")
    file.read(7)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            file.read(1)
        except TransferFailed as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    file.finish(TransferFailed("the connection dropped"))
    reader.join(5)

    assert [str(e) for e in errors] == ["the connection dropped"]
    file.close()


def test_closing_wakes_a_waiting_reader() -> None:
    file = FillingFile()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            file.read(1)
        except (TransferFailed, ValueError) as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.05)
    file.close()
    reader.join(5)

    assert not reader.is_alive()
    assert errors


def test_reading_from_the_end_waits_for_the_whole_content() -> None:
    file = FillingFile()
    file.append(b"12345")
    file.finish()

    assert file.seek(-2, 2) == 3
    assert file.read() == b"45"
    file.close()


@pytest.mark.parametrize("size", [1, 3, 100])
def test_reads_of_any_size_give_back_every_byte(size: int) -> None:
    file = FillingFile()
    content = bytes(range(256)) * 4
    file.append(content)
    file.finish()
    out = b""
    while chunk := file.read(size):
        out += chunk
    assert out == content
    file.close()
