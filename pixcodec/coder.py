"""Entropy coding: the one place constriction is used.

A range coder (constriction's queue coder) so the encoder can stream symbols in decoding order.
Tables arrive as integer-valued float64 weights (``pixcodec.fixedpoint``); constriction's
``Categorical(perfect=False)`` turns them into its fixed-point distribution. Its quantiser
divides in float64: deterministic on every IEEE-754 machine for these inputs (integers below
2**53, each operation correctly rounded), though not integer arithmetic. Pinned: a constriction release that quantised differently would change the bitstream,
so the coder id in the header names both (see docs/FORMAT.md).
"""
from __future__ import annotations

import math

import constriction
import numpy as np

from .errors import FormatError

# Coder ids (docs/FORMAT.md, "Payload"). Both: constriction 0.4/0.5 RangeEncoder, 32-bit words,
# Categorical(perfect=False).
WORDS = 1    # the encoder's words as they are, little-endian
TRIMMED = 2  # the same stream big-endian, cut to the fewest bytes that still decode
CODER_ID = TRIMMED  # what this pixcodec writes with the float64 networks; it reads both
CODERS = (WORDS, TRIMMED)
# The integer engine's models code with their own rANS streams (pixcodec/engine/rans.py):
# coder 3, or coder 4 with the online stage (pixcodec/engine/online.py), never with the two
# above, nor those with these models.
ENGINE_RANS = 3
ENGINE_ONLINE = 4
ENGINE_CODERS = (ENGINE_RANS, ENGINE_ONLINE)
# The sealed stream ends with up to two words that only pin the final state; cutting them saves
# about two bytes a file, which matters only on tiny images (a 28x28 binary digit codes in about
# 15 bytes). Checking a cut needs every table again, so the encoder keeps tables up to this many
# entries (32 MiB) and writes larger streams uncut.
TRIM_BUDGET = 2**22
_TABLE_MODEL = constriction.stream.model.Categorical(perfect=False)
# constriction quantises every table to units of 2**-24 and gives each symbol at least one
# (perfect=False), so no symbol of a K-entry table is likelier than 1 - (K - 1) * 2**-24: each
# carries at least -log2 of that, 2.19e-5 bits with 256 entries, and an uncut stream holds
# every bit it carries (a cut one only when its tables have at most TRIM_BUDGET entries).
PROBABILITY_BITS = 24
_SEALED_BITS = 64  # the coder's state, sealed into the last words


def fewest_payload_bytes(symbols: int, levels: int) -> int:
    """The fewest bytes a stream of `symbols` symbols coded with `levels`-entry tables can take
    (coders 1 and 2), with a factor 2 to spare: a payload shorter than this cannot be genuine,
    so a file that claims that many symbols in fewer bytes is forged or corrupted."""
    carried = symbols * -math.log2(1 - (levels - 1) * 2.0**-PROBABILITY_BITS)
    return max(0, math.floor((carried / 2 - _SEALED_BITS) / 8))


class Encoder:
    def __init__(self):
        self._coder = constriction.stream.queue.RangeEncoder()
        self._tables: list[tuple[np.ndarray, np.ndarray]] | None = []
        self._entries = 0

    def code(self, symbols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Encode `symbols` (N,) under `weights` (N, K); returns the symbols."""
        self._coder.encode(symbols.astype(np.int32), _TABLE_MODEL, weights)
        self._entries += weights.size
        if self._entries > TRIM_BUDGET:
            self._tables = None
        elif self._tables is not None:
            self._tables.append((symbols, weights))
        return symbols

    def finish(self) -> bytes:
        """The payload of coder TRIMMED: the shortest cut that decodes to the same symbols."""
        whole = self._coder.get_compressed().astype(">u4").tobytes()
        if self._tables is None:
            return whole
        best = whole
        for length in range(len(whole) - 1, -1, -1):
            # Cutting to `length` bytes reads as the stream's value rounded down to a multiple
            # of 256**-length; one unit up may land inside the final interval instead.
            head = int.from_bytes(whole[:length], "big")
            cuts = [c.to_bytes(length, "big") for c in (head, head + 1) if c < 256**length]
            fit = next((c for c in cuts if self._decodes(c)), None)
            if fit is None:
                break
            best = fit
        return best

    def _decodes(self, payload: bytes) -> bool:
        decoder = Decoder(payload, TRIMMED)
        try:
            return all(np.array_equal(decoder.code(None, weights), symbols)
                       for symbols, weights in self._tables)
        except FormatError:
            return False


class Decoder:
    def __init__(self, payload: bytes, coder: int = CODER_ID):
        if coder == WORDS:
            if len(payload) % 4:
                raise FormatError("payload length is not a multiple of 4 bytes")
            words = np.frombuffer(payload, dtype="<u4")
        else:  # a cut stream goes on with zeros, as the encoder checked
            words = np.frombuffer(payload + bytes(-len(payload) % 4), dtype=">u4")
        self._coder = constriction.stream.queue.RangeDecoder(words.astype(np.uint32))

    def code(self, symbols: np.ndarray | None, weights: np.ndarray) -> np.ndarray:
        """Decode one symbol per row of `weights`; `symbols` is ignored (encoder's signature)."""
        try:
            return np.asarray(self._coder.decode(_TABLE_MODEL, weights), dtype=np.int64)
        except Exception as exc:  # constriction raises on data that cannot be a valid stream
            raise FormatError(f"corrupted payload ({exc})") from None
