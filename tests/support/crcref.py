"""Reflected CRCs bit by bit, from their definition: slow, and obviously right (test references)."""

from __future__ import annotations


def reflected_crc(data: bytes, polynomial: int, bits: int) -> int:
    """
    The CRC of ``data`` with the reflected ``polynomial`` of ``bits`` bits,
    all-ones initial value and final xor (CRC-32C: 0x82F63B78, 32; CRC-64/NVME:
    0x9A6C9329AC4BC9B5, 64).
    """
    ones = (1 << bits) - 1
    crc = ones
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (polynomial if crc & 1 else 0)
    return crc ^ ones
