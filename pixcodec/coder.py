"""Entropy coding: the one place constriction is used.

A range coder (constriction's queue coder) so the encoder can stream symbols in decoding order.
Tables arrive as integer-valued float64 weights (``pixcodec.fixedpoint``); constriction's
``Categorical(perfect=False)`` turns them into its fixed-point distribution with integer-exact
arithmetic. Pinned: a constriction release that quantised differently would change the bitstream,
so the coder id in the header names both (see docs/FORMAT.md).
"""
from __future__ import annotations

import constriction
import numpy as np

from .errors import FormatError

# Coder id 1: constriction 0.4/0.5 RangeEncoder, 32-bit words, Categorical(perfect=False).
CODER_ID = 1
_TABLE_MODEL = constriction.stream.model.Categorical(perfect=False)


class Encoder:
    def __init__(self):
        self._coder = constriction.stream.queue.RangeEncoder()

    def code(self, symbols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Encode `symbols` (N,) under `weights` (N, K); returns the symbols."""
        self._coder.encode(symbols.astype(np.int32), _TABLE_MODEL, weights)
        return symbols

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class Decoder:
    def __init__(self, payload: bytes):
        if len(payload) % 4:
            raise FormatError("payload length is not a multiple of 4 bytes")
        self._coder = constriction.stream.queue.RangeDecoder(
            np.frombuffer(payload, dtype="<u4").astype(np.uint32))

    def code(self, symbols: np.ndarray | None, weights: np.ndarray) -> np.ndarray:
        """Decode one symbol per row of `weights`; `symbols` is ignored (encoder's signature)."""
        try:
            return np.asarray(self._coder.decode(_TABLE_MODEL, weights), dtype=np.int64)
        except Exception as exc:  # constriction raises on data that cannot be a valid stream
            raise FormatError(f"corrupted payload ({exc})") from None
