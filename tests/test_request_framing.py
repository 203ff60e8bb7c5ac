"""Where a request ends, fed as it arrives: in one piece or a byte at a time."""

from __future__ import annotations

import pytest

from service.request_framing import read_head, without_expect

HEAD = b"POST /p HTTP/1.1\r\nHost: x\r\n"


def _feed(framing, body: bytes, step: int):
    for at in range(0, len(body), step):
        framing.feed(body[at:at + step])
    return framing


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_chunked_body_is_complete_only_after_the_last_chunk_and_trailers(step):
    body = b"4\r\nabcd\r\n6;name=v\r\nefghij\r\n0\r\nX-T: 1\r\n\r\n"
    framing = read_head(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    assert framing.chunked and not framing.complete
    _feed(framing, body[:-2], step)
    assert not framing.complete and framing.body_size == 10
    _feed(framing, body[-2:], step)
    assert framing.complete and framing.received == len(body)


def test_chunk_data_that_looks_like_a_last_chunk_is_data():
    framing = read_head(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    _feed(framing, b"5\r\n0\r\n\r\n\r\n", 1)
    assert not framing.complete and framing.body_size == 5


@pytest.mark.parametrize("step", [1, 7])
def test_content_length_counts_bytes(step):
    framing = read_head(HEAD + b"content-length: 10\r\n\r\n")
    _feed(framing, b"x" * 9, step)
    assert not framing.complete
    framing.feed(b"x")
    assert framing.complete and framing.body_size == 10


def test_no_body_is_complete_at_once():
    assert read_head(HEAD + b"\r\n").complete
    assert read_head(HEAD + b"Content-Length: 0\r\n\r\n").complete


@pytest.mark.parametrize("head", [
    HEAD + b"Content-Length: ten\r\n\r\n",
])
def test_a_malformed_head_is_complete_so_the_parser_answers(head):
    assert read_head(head).complete


def test_a_malformed_chunk_size_is_complete_so_the_parser_answers():
    framing = read_head(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    framing.feed(b"zz\r\n")
    assert framing.complete


def test_expect_is_read_and_removed():
    head = HEAD + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    assert read_head(head).expects_continue
    assert without_expect(head) == HEAD + b"Content-Length: 3\r\n\r\n"
