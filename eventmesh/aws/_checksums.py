"""S3's flexible checksums (``x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}``), each
the base64 of the big-endian digest. CRC32 is zlib's; CRC32C (Castagnoli) and CRC64/NVME are
computed here table-driven in pure Python (botocore needs awscrt for them), which is slow on
large bodies (a few MB/s) but exact.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable

__all__ = ["ALGORITHMS", "checksum"]


def _table(polynomial: int, width: int) -> list[int]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ polynomial if value & 1 else value >> 1
        table.append(value & ((1 << width) - 1))
    return table


_CRC32C = _table(0x82F63B78, 32)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5, 64)


def _reflected(table: list[int], width: int, data: bytes) -> int:
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli); ``crc32c(b"123456789") == 0xE3069283``."""
    return _reflected(_CRC32C, 32, data)


def crc64nvme(data: bytes) -> int:
    """CRC-64/NVME; ``crc64nvme(b"123456789") == 0xAE8B14860A799888``."""
    return _reflected(_CRC64NVME, 64, data)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


ALGORITHMS: dict[str, Callable[[bytes], str]] = {
    "crc32": lambda data: _b64((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")),
    "crc32c": lambda data: _b64(crc32c(data).to_bytes(4, "big")),
    "crc64nvme": lambda data: _b64(crc64nvme(data).to_bytes(8, "big")),
    "sha1": lambda data: _b64(hashlib.sha1(data).digest()),
    "sha256": lambda data: _b64(hashlib.sha256(data).digest()),
}
"""The base64 checksum of a body, by the algorithm's name in ``x-amz-checksum-{name}``."""


def checksum(algorithm: str, data: bytes) -> str | None:
    """The base64 checksum of ``data``, None for an algorithm not known here."""
    compute = ALGORITHMS.get(algorithm.lower())
    return compute(data) if compute is not None else None
