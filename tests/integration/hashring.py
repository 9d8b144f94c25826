"""The OpenTelemetry Collector's loadbalancing ring, written again in Python from its
description, so tests can say which gateway must own a trace without asking spanrelay.

    ring = HashRing(['127.0.0.2:4317', '127.0.0.3:4317'])
    ring.owner(trace_id_bytes)      -> '127.0.0.3:4317'
    position(key_bytes)             -> 0 .. 35999

A key's position is CRC-32 (IEEE) of its bytes modulo 36000; endpoints, sorted, each
place `points` points at CRC-32(name + one byte i) modulo 36000, a taken position being
skipped; the owner is the endpoint of the first point at or after the position, wrapping.
"""

import bisect
import zlib

POSITIONS = 36000
POINTS = 100


def position(key):
    return zlib.crc32(bytes(key)) % POSITIONS


class HashRing:
    def __init__(self, endpoints, points=POINTS):
        self.endpoints = sorted(set(endpoints))
        taken = {}
        for name in self.endpoints:
            for i in range(points):
                pos = zlib.crc32(name.encode() + bytes([i])) % POSITIONS
                if pos not in taken:
                    taken[pos] = name
        self.items = sorted(taken.items())
        self._positions = [pos for pos, _ in self.items]

    def owner(self, key):
        if not self.items:
            return None
        k = bisect.bisect_left(self._positions, position(key))
        return self.items[k % len(self.items)][1]
