"""The entropy coder alone: cut payloads (coder 2) decode exactly and come within a byte of
the tables' ideal code length; word payloads (coder 1, earlier files) still decode."""
import numpy as np
import pytest

from pixcodec import coder
from pixcodec import fixedpoint as fx


def random_stream(rng, symbols: int, levels: int):
    """Integer tables as the models give them (a floor, some confident rows) and symbols drawn
    from them."""
    probs = rng.dirichlet(np.full(levels, 0.3), size=symbols) + 1e-9
    weights = np.floor(probs / probs.sum(axis=1, keepdims=True) * 2**40) + 1
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    drawn = (cumulative < rng.random((symbols, 1))).sum(axis=1).clip(0, levels - 1)
    return drawn.astype(np.int64), weights


def encode(symbols, weights, chunk=7) -> bytes:
    encoder = coder.Encoder()
    for i in range(0, len(symbols), chunk):
        encoder.code(symbols[i:i + chunk], weights[i:i + chunk])
    return encoder.finish()


def decode(payload, weights, coder_id=coder.CODER_ID, chunk=7) -> np.ndarray:
    decoder = coder.Decoder(payload, coder_id)
    return np.concatenate([decoder.code(None, weights[i:i + chunk])
                           for i in range(0, len(weights), chunk)] or [np.zeros(0, np.int64)])


@pytest.mark.parametrize("levels", [2, 256])
def test_cut_payloads_decode_and_lose_less_than_a_byte(rng, levels):
    excess = []
    for symbols in [0, 1, 2, 5, 40, 300] * 5:
        drawn, weights = random_stream(rng, symbols, levels)
        payload = encode(drawn, weights)
        assert np.array_equal(decode(payload, weights), drawn)
        excess.append(8 * len(payload) - fx.bits_of(weights, drawn).sum())
    # The sealed words alone cost 16 bits a stream on average and up to 64.
    assert max(excess) < 10 and np.mean(excess) < 5


def test_coder_1_word_payloads_still_decode(rng):
    drawn, weights = random_stream(rng, 200, 256)
    encoder = coder.Encoder()
    encoder.code(drawn, weights)
    words = encoder._coder.get_compressed().astype("<u4").tobytes()  # how coder 1 wrote them
    assert np.array_equal(decode(words, weights, coder.WORDS), drawn)
    with pytest.raises(coder.FormatError, match="multiple of 4"):
        coder.Decoder(words[:-1], coder.WORDS)


def test_streams_beyond_the_budget_are_written_uncut(rng, monkeypatch):
    monkeypatch.setattr(coder, "TRIM_BUDGET", 100 * 256)
    drawn, weights = random_stream(rng, 101, 256)
    payload = encode(drawn, weights)
    assert len(payload) % 4 == 0 and len(payload) * 8 >= fx.bits_of(weights, drawn).sum() + 8
    assert np.array_equal(decode(payload, weights), drawn)


def test_no_shorter_payload_decodes(rng):
    """The encoder's cut is the shortest: checked against every shorter byte string, not only
    the cuts the encoder itself tried."""
    checked = {1: 0, 2: 0}  # payload bytes: every shorter string is 1 or 257 of them
    for _ in range(200):
        drawn, weights = random_stream(rng, int(rng.integers(1, 6)), 256)
        payload = encode(drawn, weights)
        if len(payload) not in checked or checked[len(payload)] == 4:
            continue
        checked[len(payload)] += 1
        for length in range(len(payload)):
            for value in range(256**length):
                try:
                    decoded = decode(value.to_bytes(length, "big"), weights)
                except coder.FormatError:
                    continue
                assert not np.array_equal(decoded, drawn), (payload, value, length)
    assert checked == {1: 4, 2: 4}
