#!/usr/bin/python3
"""Writes the receiver fuzz targets' seed corpus: tests/fuzz/corpus/grpc/ and
tests/fuzz/corpus/http/. Each seed starts with the control byte conn_driver.h reads
(chunks, whether the client reads, whether the server stops), then what the client
sends (for gRPC, after the connection preface the driver sends itself).

    /usr/bin/python3 tests/fuzz/seeds.py
"""

import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import h2wire  # noqa: E402
from h2wire import data, frame, grpc_message, request_headers  # noqa: E402

NO_READ, STOP = 0x20, 0x40


def field(num, payload):
    return bytes([num << 3 | 2, len(payload)]) + payload


def request(spans=1):
    """A small ExportTraceServiceRequest, encoded by hand."""
    out = b''
    for i in range(spans):
        span = field(1, bytes([1 + i]) * 16) + field(2, bytes([2 + i]) * 8) + field(5, b'op')
        out += field(2, span)
    return field(1, field(2, out))


def grpc_seeds():
    body = request()
    settings = frame(h2wire.SETTINGS, 0, 0)
    ack = frame(h2wire.SETTINGS, h2wire.ACK, 0)
    export = request_headers(1) + data(1, grpc_message(body), end_stream=True)
    gz = gzip.compress(body)
    gzip_headers = request_headers(1)[9:] + b'\x00\x0dgrpc-encoding\x04gzip'
    return {
        'export': bytes([0]) + settings + ack + export,
        'export_chunked': bytes([7]) + settings + ack + export,
        'export_not_read': bytes([3 | NO_READ]) + settings + export,
        'export_then_stop': bytes([2 | STOP]) + settings + request_headers(1) +
                            data(1, grpc_message(body)),
        'two_streams': bytes([0]) + settings + request_headers(1) + request_headers(3) +
                       data(3, grpc_message(request(3)), True) + data(1, grpc_message(body), True),
        'gzip': bytes([0]) + settings + frame(h2wire.HEADERS, h2wire.END_HEADERS, 1, gzip_headers) +
                data(1, b'\x01' + len(gz).to_bytes(4, 'big') + gz, True),
        'too_large': bytes([1]) + settings + request_headers(1) +
                     data(1, grpc_message(b'\x0a', declared_length=2 << 30)),
        'wrong_path': bytes([0]) + settings + request_headers(1, path=b'/x.Y/Z', end_stream=True),
        'reset_ping_goaway': bytes([0]) + settings + request_headers(1) +
                             frame(h2wire.RST_STREAM, 0, 1, b'\x00\x00\x00\x08') +
                             frame(h2wire.PING, 0, 0, b'12345678') +
                             frame(h2wire.WINDOW_UPDATE, 0, 0, b'\x00\x01\x00\x00') +
                             frame(h2wire.GOAWAY, 0, 0, b'\x00\x00\x00\x00\x00\x00\x00\x00'),
    }


def http_seeds():
    body = request()
    post = (b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
            b'Content-Length: %d\r\n\r\n' % len(body) + body)
    doc = json.dumps({'resourceSpans': [{'scopeSpans': [{'spans': [
        {'traceId': '01' * 16, 'spanId': '02' * 8, 'name': 'op',
         'attributes': [{'key': 'k', 'value': {'intValue': '7'}}]}]}]}]}).encode()
    gz = gzip.compress(body)
    chunked = b''.join(b'%x\r\n' % len(body[i:i + 7]) + body[i:i + 7] + b'\r\n'
                       for i in range(0, len(body), 7)) + b'0\r\n\r\n'
    return {
        'post': bytes([0]) + post,
        'post_chunks': bytes([9]) + post,
        'pipelined_not_read': bytes([2 | NO_READ]) + post * 4,
        'post_then_stop': bytes([1 | STOP]) + post[:-5],
        'json': bytes([0]) + b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: '
                b'application/json; charset=utf-8\r\nContent-Length: %d\r\n\r\n' % len(doc) + doc,
        'gzip': bytes([0]) + b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: '
                b'application/x-protobuf\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n'
                % len(gz) + gz,
        'chunked_expect': bytes([4]) + b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: '
                          b'application/x-protobuf\r\nExpect: 100-continue\r\n'
                          b'Transfer-Encoding: chunked\r\n\r\n' + chunked,
        'head_get_close': bytes([0]) + b'HEAD /v1/traces HTTP/1.1\r\nHost: x\r\n\r\n'
                          b'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        'too_large': bytes([0]) + b'POST /v1/traces HTTP/1.1\r\nHost: x\r\n'
                     b'Content-Length: 99999999999\r\n\r\nxx',
        'upgrade': bytes([0]) + b'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n'
                   b'Upgrade: h2c\r\n\r\n',
    }


def main():
    for target, seeds in (('grpc', grpc_seeds()), ('http', http_seeds())):
        d = os.path.join(HERE, 'corpus', target)
        os.makedirs(d, exist_ok=True)
        for name, content in seeds.items():
            with open(os.path.join(d, name), 'wb') as f:
                f.write(content)


if __name__ == '__main__':
    main()
