"""Per-image adaptation: files with an ADPT section decode exactly, the section pays for itself,
and a damaged or misplaced one is refused with a FormatError before any pixel is decoded."""
import math
import numpy as np
import pytest
import torch

import pixcodec
from pixcodec import adapt, container
from pixcodec.classic import MODEL
from pixcodec.errors import FormatError
from pixcodec.nets.logistic_pixelcnn import LogisticPixelCNN, LogisticPixelCNNConfig
from pixcodec.sections import ZIGZAG_PLANES, model_plane_of, pack_lzma

from conftest import SHIPPED, photo_pixels


def sections_of(data: bytes) -> dict:
    return container.unpack(data)[1]


def replace_section(data: bytes, kind: bytes, body: bytes | None) -> bytes:
    header, sections = container.unpack(data)
    sections = dict(sections)
    if body is None:
        sections.pop(kind)
    else:
        sections[kind] = body
    return container.pack(header, sections)


@pytest.mark.parametrize("effort", [1, 2])
def test_adapted_files_round_trip_exactly_and_are_smaller(logistic_zoo, effort):
    pixels = photo_pixels()
    plain = pixcodec.encode(pixels, "logistic-test", effort=0)
    adapted = pixcodec.encode(pixels, "logistic-test", effort=effort)
    assert container.ADAPT not in sections_of(plain.data)
    assert container.ADAPT in sections_of(adapted.data)
    level = sections_of(adapted.data)[container.ADAPT][0] & ~ZIGZAG_PLANES
    assert level in range(1, effort + 1)
    assert len(adapted.data) < len(plain.data)
    assert adapted.nll_bits < plain.nll_bits
    assert np.array_equal(pixcodec.decompress(adapted.data), pixels)


def test_small_images_are_not_fitted():
    from pixcodec import zoo
    pixels = photo_pixels()
    assert pixels.size < adapt.MIN_SUBPIXELS
    assert adapt.fit(zoo.load_model("logistic-rgb-v1"), pixels, 2) is None


def test_adaptation_is_left_out_when_it_does_not_pay(logistic_zoo):
    # Four pixels: no change to the model can win back the section's bytes.
    result = pixcodec.encode(photo_pixels()[:2, :2], "logistic-test", effort=2)
    assert container.ADAPT not in sections_of(result.data)


def test_models_without_adaptation_ignore_the_effort(logistic_zoo, rng):
    pixels = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    result = pixcodec.encode(pixels, SHIPPED, effort=2)
    assert container.ADAPT not in sections_of(result.data)


@pytest.mark.parametrize("damage,message", [
    (lambda body: bytes([7]) + body[1:], "unknown level"),
    (lambda body: body[:1] + bytes([3]) + body[2:], "unknown level or step"),
    (lambda body: body[:1] + bytes([12]) + body[2:], "unknown level or step"),
    (lambda body: body[:1], "unknown level or step"),
    (lambda body: body[:-3], "corrupted ADPT section"),
    (lambda body: body + b"\0\0", "corrupted ADPT section"),
    (lambda body: bytes([body[0] + 1]) + body[1:], "corrupted ADPT section"),  # level 2: more
    (lambda body: bytes([body[0] | 0x20]) + body[1:], "unknown level"),
])
def test_a_damaged_adaptation_section_is_refused(logistic_zoo, damage, message):
    data = pixcodec.encode(photo_pixels(), "logistic-test", effort=1).data
    forged = replace_section(data, container.ADAPT, damage(sections_of(data)[container.ADAPT]))
    with pytest.raises(FormatError, match=message):
        pixcodec.decompress(forged)


def test_a_flipped_bit_in_the_adaptation_is_refused(logistic_zoo):
    """By the file's CRC; and with the CRC made valid again, by the LZMA stream, the count of
    values or the pixels' checksums, unless the change is too small to alter a table (the
    image then decodes exactly): never a wrong image."""
    data = pixcodec.encode(photo_pixels(), "logistic-test", effort=1).data
    body = sections_of(data)[container.ADAPT]
    start = data.index(body)
    flipped = bytearray(data)
    flipped[start + 3] ^= 0x10
    with pytest.raises(FormatError, match="corrupted file"):
        pixcodec.decompress(bytes(flipped))
    refused = 0
    for bit in range(0, 8 * len(body), 7):
        bad = bytearray(body)
        bad[bit // 8] ^= 1 << bit % 8
        try:
            out = pixcodec.decompress(replace_section(data, container.ADAPT, bytes(bad)))
        except FormatError:
            refused += 1
        else:
            assert np.array_equal(out, photo_pixels())
    assert refused > 8 * len(body) // 7 // 2


def test_an_adaptation_for_a_model_that_has_none_is_refused(logistic_zoo):
    adapted = pixcodec.encode(photo_pixels(), "logistic-test", effort=1).data
    gray = pixcodec.encode(photo_pixels()[:, :, 1], SHIPPED).data
    assert model_plane_of(gray).modes in (None, (MODEL,))  # the gray model codes it
    forged = replace_section(gray, container.ADAPT, sections_of(adapted)[container.ADAPT])
    with pytest.raises(FormatError, match="cannot be adapted"):
        pixcodec.decompress(forged)


def test_an_adaptation_in_a_file_without_model_tiles_is_refused(logistic_zoo, rng):
    """The encoder drops the section when every tile is coded without the model; one there
    anyway is a forgery, refused before decoding (it was silently ignored)."""
    adapted = pixcodec.encode(photo_pixels(), "logistic-test", effort=1).data
    noise = pixcodec.encode(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8),
                            "logistic-test", effort=1).data
    assert MODEL not in model_plane_of(noise).modes
    forged = replace_section(noise, container.ADAPT, sections_of(adapted)[container.ADAPT])
    with pytest.raises(FormatError, match="no tile the model codes"):
        pixcodec.decompress(forged)


def test_both_layouts_of_the_values_give_the_same_change(logistic_zoo):
    """Zigzag planes (written now) and int16 (files before 2026-12-03) hold the same numbers,
    the int16 extremes included."""
    from pixcodec import zoo
    net = zoo.load_model("logistic-test")
    rng = np.random.default_rng(3)
    deltas = [rng.integers(-2**15, 2**15, s).astype(np.int16)
              for s in adapt.parameter_shapes(net, 1)]
    deltas[0].ravel()[:4] = (-2**15, 2**15 - 1, 0, -1)
    written = adapt.Adaptation(1, 9, tuple(deltas)).pack()
    assert written[0] == 1 | ZIGZAG_PLANES
    values = np.concatenate([d.ravel() for d in deltas]).astype("<i2").tobytes()
    legacy = bytes([1, 9]) + pack_lzma(values)
    for body in (written, legacy):
        read = adapt.unpack(body, net)
        assert (read.level, read.step_bits) == (1, 9)
        assert all(np.array_equal(a, b) for a, b in zip(read.deltas, deltas))


@pytest.mark.parametrize("step_bits", adapt.STEP_CHOICES)
def test_any_stored_change_decodes_exactly(logistic_zoo, step_bits):
    """Whatever deltas a file holds (within int16, at any step), coding with them is exact: the
    change is a multiple of the weight grid."""
    from pixcodec import zoo
    pixels = photo_pixels()[:12, :12]
    net = zoo.load_model("logistic-test")
    rng = np.random.default_rng(5)
    shapes = adapt.parameter_shapes(net, 2)
    wild = adapt.Adaptation(2, step_bits, tuple(rng.integers(-3000, 3000, s).astype(np.int16)
                                     for s in shapes))
    coded = adapt.apply(net, adapt.unpack(wild.pack(), net))
    from pixcodec import codec, encoder
    streams = encoder.encode_pixels(coded, pixels, 8).streams
    assert np.array_equal(codec.decode_pixels(coded, streams, 12, 12, 8), pixels)


@pytest.mark.parametrize("spatial_width,edge,gap", [(3, False, False), (7, True, True)])
def test_the_fitted_problem_is_the_network(spatial_width, edge, gap, rng):
    """The fit's pixel-wise view of the output layer (features, predictors) gives the network's
    own float output and loss when nothing is changed, for every variant of the network."""
    torch.manual_seed(1)
    net = LogisticPixelCNN(LogisticPixelCNNConfig(3, hidden=6, blocks=2, out_features=9,
                                                  components=2, predictor=5,
                                                  spatial_width=spatial_width,
                                                  edge_predictor=edge, gap_predictor=gap))
    for p in net.parameters():
        p.data.normal_(0, 0.2)
    pixels = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    problem = adapt._HeadProblem(net.eval(), pixels)
    with torch.no_grad():
        out = net(x)
        assert torch.allclose(problem.base, out[0].flatten(1).t(), atol=1e-5)
        zero = [torch.zeros(s) for s in adapt.parameter_shapes(net, 2)]
        assert float(problem.nll_bits(zero, 2)) == pytest.approx(
            float(net.loss(out, x)) / np.log(2), rel=1e-5)


def test_the_fit_s_adam_is_torch_s_bit_for_bit():
    """The fit's own Adam (no torch optimizer: constructing one imports torch._dynamo) makes
    the very updates of torch.optim.Adam on the CPU, with the learning rate changing."""
    torch.manual_seed(0)
    target = torch.randn(7, 5)
    ours = [torch.randn(7, 5, requires_grad=True), torch.randn(5, requires_grad=True)]
    theirs = [p.detach().clone().requires_grad_(True) for p in ours]
    reference = torch.optim.Adam(theirs, lr=1.0)
    mine = adapt._Adam(ours)
    for step in range(20):
        lr = 3e-2 * (1 + math.cos(math.pi * step / 20))
        for params in (ours, theirs):
            loss = ((params[0] * params[1] - target) ** 2).sum() + params[1].abs().sum()
            for p in params:
                p.grad = None
            loss.backward()
        mine.step(lr)
        reference.param_groups[0]["lr"] = lr
        reference.step()
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert not torch.equal(ours[0], torch.zeros(7, 5))


def test_the_same_file_for_any_number_of_processes(logistic_zoo, monkeypatch):
    """The orientation's passes and the levels' fits are shared among the processes: the same
    bytes for 1, 2 and 3; the one worker of two processes serves the orientation and the fit
    alike, and none is left waiting when the tiles are coded in this process alone."""
    from pixcodec import workers
    started = []
    real = workers._Worker.__init__
    monkeypatch.setattr(workers._Worker, "__init__", lambda self: started.append(1) or real(self))
    pixels = photo_pixels()
    try:
        one = pixcodec.encode(pixels, "logistic-test", effort=2, threads=1)
        assert not started and container.ADAPT in sections_of(one.data)
        for count in (2, 3):
            started.clear()
            assert pixcodec.encode(pixels, "logistic-test", effort=2, threads=count).data \
                == one.data
            assert len(started) == count - 1
            assert not workers._spares
    finally:
        workers.stop_spares()
