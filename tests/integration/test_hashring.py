"""The test suite's own ring (hashring.py) against the OpenTelemetry Collector's published
vectors (consistent_hashing_test.go), so the sharding tests that trust it to name a
trace's gateway are checking against the Collector's ring, not against spanrelay's."""

import unittest

import hashring


class CollectorVectors(unittest.TestCase):
    def test_points_with_weight_five(self):
        ring = hashring.HashRing(['endpoint-2', 'endpoint-1', 'endpoint-1'], points=5)
        self.assertEqual(ring.items, [
            (1401, 'endpoint-1'), (4175, 'endpoint-1'), (10240, 'endpoint-2'),
            (14133, 'endpoint-1'), (15002, 'endpoint-2'), (17836, 'endpoint-1'),
            (21263, 'endpoint-2'), (21667, 'endpoint-1'), (26806, 'endpoint-2'),
            (27020, 'endpoint-2')])

    def test_owners_with_weight_hundred(self):
        ring = hashring.HashRing(['endpoint-1', 'endpoint-2'])
        self.assertEqual(len(ring.items), 200)
        self.assertEqual(ring.owner(bytes([1, 2, 0, 0])), 'endpoint-1')
        self.assertEqual(ring.owner(bytes([128, 128, 0, 0])), 'endpoint-2')
        self.assertEqual(ring.owner(b'ad-service-7'), 'endpoint-1')
        self.assertEqual(ring.owner(b'get-recommendations-1'), 'endpoint-2')

    def test_wrap_and_empty(self):
        ring = hashring.HashRing(['endpoint-1', 'endpoint-2'], points=5)
        key = next(k.to_bytes(4, 'big') for k in range(100000)
                   if hashring.position(k.to_bytes(4, 'big')) > 27020)
        self.assertEqual(ring.owner(key), 'endpoint-1')
        self.assertIsNone(hashring.HashRing([]).owner(b'x'))


if __name__ == '__main__':
    unittest.main()
