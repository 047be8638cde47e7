"""The fuzz targets: each module's ``test_one_input(data: bytes)`` raises only for a bug."""

from __future__ import annotations
