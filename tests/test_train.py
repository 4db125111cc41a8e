"""`pixcodec train`: exact resume, a loss that falls, the data sets it reads, the command."""
import dataclasses
import io
import pickle
import re
import tarfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixcodec.cli.main import main
from pixcodec.data import (BINARIZED_MNIST_TAIL, ArraySampler, MixedSampler, TrainingSet,
                           open_training_set, open_training_sets)
from pixcodec.nets.presets import PRESETS, build, normalise_config
from pixcodec.train import TrainOptions, evaluate, load_checkpoint, train


def binary_digits(n: int, seed: int = 0) -> np.ndarray:
    """(n, 1, 8, 8) 0/1 images with structure a model can learn: vertical bars."""
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, 2, (n, 1, 1, 8), dtype=np.uint8)
    return np.repeat(cols, 8, axis=2)


def tiny_set() -> TrainingSet:
    return TrainingSet("bars", ArraySampler(binary_digits(256)), binary_digits(32, seed=1), 1, 2)


def options(tmp_path, name: str, **changes) -> TrainOptions:
    base = TrainOptions(model="mnist_pixelcnn", data="bars", checkpoint=tmp_path / name,
                        steps=6, batch=4, eval_every=3, eval_images=16, save_every=2,
                        threads=1)
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("model", ["mnist_pixelcnn", "mnist_diag_bilstm"])
def test_resume_equals_uninterrupted(tmp_path, model):
    train(options(tmp_path, "straight.pt", model=model), data=tiny_set())
    cut = options(tmp_path, "cut.pt", model=model)
    train(dataclasses.replace(cut, max_minutes=1e-9), data=tiny_set())  # stops after one step
    assert load_checkpoint(tmp_path / "cut.pt")["step"] == 1
    train(cut, data=tiny_set())
    straight = load_checkpoint(tmp_path / "straight.pt")
    resumed = load_checkpoint(tmp_path / "cut.pt")
    assert resumed["step"] == straight["step"] == 6
    for k, v in straight["weights"].items():
        assert torch.equal(v, resumed["weights"][k]), k


@pytest.mark.parametrize("model", ["mnist_pixelcnn", "mnist_row_lstm", "mnist_diag_bilstm",
                                   "mnist_multiscale_row_lstm"])
def test_short_training_lowers_the_heldout_loss(tmp_path, model):
    opts = options(tmp_path, f"{model}.pt", model=model, steps=40, eval_every=40, lr=3e-3,
                   optimizer="adam")
    data = tiny_set()
    torch.manual_seed(opts.seed)  # the initial weights train() starts from
    before = evaluate(build(model), data.heldout, torch.device("cpu"))
    after = train(opts, data=data)["heldout_bpd"] * np.log(2)
    assert after < 0.7 * before
    log = (tmp_path / f"{model}.csv").read_text().splitlines()
    assert log[0].startswith("step,train_bpd,heldout_bpd") and log[-1].startswith("40,")


def test_checkpoints_load_without_running_code(tmp_path):
    train(options(tmp_path, "c.pt", steps=2), data=tiny_set())
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["model"] == "mnist_pixelcnn"
    assert state["config"] == normalise_config(*PRESETS["mnist_pixelcnn"])


def test_resuming_another_models_checkpoint_is_refused(tmp_path):
    train(options(tmp_path, "c.pt", steps=1), data=tiny_set())
    with pytest.raises(ValueError, match="holds model"):
        train(options(tmp_path, "c.pt", model="mnist_row_lstm"), data=tiny_set())


def test_cifar10_python_archive_is_read_without_pickled_code(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "cifar-10-python.tar.gz"
    batches = {f"data_batch_{i}": rng.integers(0, 256, (5, 3072), dtype=np.uint8)
               for i in (1, 2)}
    batches["test_batch"] = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in batches.items():
            blob = pickle.dumps({b"data": data, b"labels": [0] * len(data)})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    data = open_training_set(str(path), None, 3, 256)
    assert data.heldout.shape == (4, 3, 32, 32)
    first = batches["data_batch_1"][0].reshape(3, 32, 32)
    assert any(np.array_equal(first, im) for im in data.train.images)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("data_batch_1", "test_batch"):
            blob = pickle.dumps({b"data": Evil()})
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(Exception, match="refusing to load builtins.print"):
        open_training_set(str(evil), None, 3, 256)


def test_binarized_mnist_splits(tmp_path):
    """valid-tail trains on the validation images but the last BINARIZED_MNIST_TAIL and holds
    those out; the other splits train on the training images alone."""
    rng = np.random.default_rng(0)
    tail = BINARIZED_MNIST_TAIL
    splits = {k: rng.integers(0, 2, (n, 4, 4), dtype=np.uint8)
              for k, n in (("train", 5), ("valid", tail + 3), ("test", 4))}
    np.savez(tmp_path / "binarized-mnist.npz", **splits)
    for heldout, held, trained in (("default", splits["valid"], splits["train"]),
                                   ("test", splits["test"], splits["train"]),
                                   ("valid-tail", splits["valid"][-tail:],
                                    np.concatenate([splits["train"], splits["valid"][:3]]))):
        data = open_training_set("binarized-mnist", tmp_path, 1, 2, heldout=heldout)
        assert np.array_equal(data.heldout[:, 0], held)
        assert np.array_equal(data.train.images[:, 0], trained)


def test_imagenet_npz_layout(tmp_path):
    rng = np.random.default_rng(0)
    planes = rng.integers(0, 256, (6, 3 * 8 * 8), dtype=np.uint8)
    for name in ("train_data_batch_1.npz", "train_data_batch_2.npz", "val_data.npz"):
        np.savez(tmp_path / name, data=planes, labels=np.zeros(6))
    data = open_training_set(str(tmp_path), None, 3, 256)
    assert data.heldout.shape == (6, 3, 8, 8)
    # R plane first: the first 64 values are the red channel, row-major.
    assert np.array_equal(data.heldout[0, 0].ravel(), planes[0, :64])
    assert len(data.train.images) == 12


def photo_folder(tmp_path):
    """Eleven random 12x12 RGB PNGs: ten to train on, one held out."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(11):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_train_command_on_an_image_folder(tmp_path):
    folder = photo_folder(tmp_path)
    result = CliRunner().invoke(main, ["train", "--model", "photo_diag_bilstm", "--data",
                                       str(folder), "--crop", "8", "--checkpoint",
                                       str(tmp_path / "p.pt"), "--steps", "2", "--batch", "2",
                                       "--eval-every", "2", "--threads", "1", "-q",
                                       "--average", "0.99"])
    assert result.exit_code == 0, result.output
    assert "held-out" in result.output and "averaged weights" in result.output
    assert load_checkpoint(tmp_path / "p.pt")["step"] == 2
    for decay in ("1", "-0.5"):
        refused = CliRunner().invoke(main, ["train", "--model", "mnist_pixelcnn", "--data",
                                            str(folder), "--checkpoint", str(tmp_path / "r.pt"),
                                            "--average", decay])
        assert refused.exit_code == 2 and "--average" in refused.output
        assert not (tmp_path / "r.pt").exists()
    bad = CliRunner().invoke(main, ["train", "--model", "mnist_pixelcnn", "--data", str(folder),
                                    "--checkpoint", str(tmp_path / "q.pt")])
    assert bad.exit_code == 1 and "256 levels" in bad.output


def test_mixed_sets_draw_in_proportion_to_pixels():
    small = ArraySampler(np.ones((10, 1, 4, 4), dtype=np.uint8))       # 160 pixels
    large = ArraySampler(np.full((30, 1, 4, 4), 2, dtype=np.uint8))    # 480 pixels
    batch = MixedSampler([small, large]).sample(4000, np.random.default_rng(0))
    assert batch.shape == (4000, 1, 4, 4)
    assert abs((batch[:, 0, 0, 0] == 2).mean() - 0.75) < 0.03


def test_train_command_mixes_sets_of_one_size(tmp_path):
    rng = np.random.default_rng(0)
    folder = photo_folder(tmp_path)
    arrays = tmp_path / "arrays"
    arrays.mkdir()
    for name in ("train_data_batch_1.npz", "val_data.npz"):
        np.savez(arrays / name, data=rng.integers(0, 256, (6, 3 * 8 * 8), dtype=np.uint8))
    data = open_training_sets([str(folder), str(arrays)], None, 3, 256, crop=8)
    alone = [open_training_set(str(p), None, 3, 256, crop=8) for p in (folder, arrays)]
    assert data.name == "photos+arrays"
    assert np.array_equal(data.heldout, np.concatenate([s.heldout for s in alone]))
    assert data.train.sample(5, rng).shape == (5, 3, 8, 8)

    args = ["train", "--model", "photo_diag_bilstm", "--data", str(folder), "--data",
            str(arrays), "--steps", "2", "--batch", "2", "--eval-every", "2", "--threads", "1",
            "-q"]
    result = CliRunner().invoke(main, args + ["--crop", "8", "--checkpoint", str(tmp_path / "m.pt")])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "m.pt")["options"]["data"] == [str(folder), str(arrays)]
    bad = CliRunner().invoke(main, args + ["--crop", "4", "--checkpoint", str(tmp_path / "n.pt")])
    assert bad.exit_code == 1 and "different sizes (photos 4x4, arrays 8x8)" in bad.output
    assert not (tmp_path / "n.pt").exists()


def started_from(tmp_path, source_model: str, model: str):
    """(a random `source_model` net, a `model` net initialised from its checkpoint by --init)."""
    from pixcodec.train import _initialise, save_checkpoint
    torch.manual_seed(0)
    source = build(source_model)
    for p in source.parameters():
        p.data.normal_(0, 0.1)
    opts = options(tmp_path, "source.pt", model=source_model)
    save_checkpoint(tmp_path / "source.pt", source, torch.optim.Adam(source.parameters()), 5,
                    np.random.default_rng(0), opts)
    started = build(model)
    _initialise(started, tmp_path / "source.pt", verbose=False)
    return source, started


def test_a_grown_network_starts_as_the_one_it_grew_from(tmp_path):
    """--init: photo_logistic_med is photo_logistic plus a zero-initialised part, so started
    from photo_logistic's weights it computes the very same outputs."""
    small, grown = started_from(tmp_path, "photo_logistic", "photo_logistic_med")
    x = torch.randint(0, 256, (1, 3, 9, 10), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(grown(x), small(x))


def test_a_widened_network_starts_as_the_narrow_one_and_its_new_part_learns(tmp_path):
    """--init from a narrower network of the same kind (h = 32 -> 48): the old weights sit in
    each tensor's leading corner and the old channels read none of the new ones, so the output
    is the narrow network's; the new channels start at a tenth of a fresh network's size; one
    training step then changes what the old channels read."""
    from pixcodec.train import NEW_CHANNELS_SCALE, _embedded, nll_nats
    narrow, wide = started_from(tmp_path, "photo_logistic_gap", "photo_logistic_gap_h48")
    reads_new = wide.blocks[0].reduce.weight[:32, 64:]
    assert not reads_new.any() and wide.blocks[0].reduce.weight[32:].abs().sum() > 0
    built = torch.randn(48, 96, 1, 1)
    embedded = _embedded(narrow.blocks[0].reduce.weight, built)
    assert torch.equal(embedded[32:], built[32:] * NEW_CHANNELS_SCALE)
    assert torch.equal(wide.blocks[0].reduce.weight[:32, :64], narrow.blocks[0].reduce.weight)
    x = torch.randint(0, 256, (2, 3, 9, 10), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(wide(x), narrow(x), atol=1e-5)
    optimizer = torch.optim.Adam(wide.parameters(), 1e-3)
    nll_nats(wide, x).backward()
    optimizer.step()
    assert wide.blocks[0].reduce.weight[:32, 64:].abs().sum() > 0


def test_warmup_ramps_the_learning_rate_then_follows_the_schedule(tmp_path):
    from pixcodec.train import _lr_at
    plain = options(tmp_path, "a.pt", steps=1000, lr=1e-3)
    ramped = dataclasses.replace(plain, warmup=100)
    assert _lr_at(ramped, 0) == pytest.approx(_lr_at(plain, 0) / 100)
    assert _lr_at(ramped, 49) == pytest.approx(_lr_at(plain, 49) / 2)
    assert [_lr_at(ramped, s) for s in (99, 500, 999)] == [_lr_at(plain, s) for s in (99, 500, 999)]
    constant = dataclasses.replace(ramped, schedule="constant")
    assert _lr_at(constant, 9) == pytest.approx(1e-4) and _lr_at(constant, 100) == 1e-3


def test_benchmark_times_training_steps_without_data_or_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["train", "--model", "mnist_pixelcnn", "--benchmark", "2",
                                       "--batch", "4", "--crop", "8", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"mnist_pixelcnn: [\d.]+ images/s, \d+ ms a step \(median of 2; batch 4 "
                        r"of 8x8, 1 thread\(s\), (bfloat16|float32), cpu\)\n", result.output)
    assert list(tmp_path.iterdir()) == []  # nothing written
    missing = CliRunner().invoke(main, ["train", "--model", "mnist_pixelcnn"])
    assert missing.exit_code == 2 and "Missing option '--data'" in missing.output
    unknown = CliRunner().invoke(main, ["train", "--model", "nope", "--benchmark", "1"])
    assert unknown.exit_code == 1 and "unknown model configuration 'nope'" in unknown.output


def test_the_running_average_follows_its_decay():
    """WeightAverage: mean <- decay * mean + (1 - decay) * weight, for every parameter."""
    from pixcodec.train import WeightAverage
    torch.manual_seed(0)
    net = build("mnist_pixelcnn")
    start = [p.detach().clone() for p in net.parameters()]
    average = WeightAverage(net, 0.75)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    average.update(net)
    for mean, first in zip(average.net.parameters(), start):
        assert torch.allclose(mean, first + 0.25) and not mean.requires_grad
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


def test_a_run_with_an_average_resumes_exactly_and_exports_it(tmp_path):
    """--average: the average is saved and resumed exactly with the weights, logged beside
    them, and it is what export takes."""
    from pixcodec import modelfile
    train(options(tmp_path, "straight.pt", average=0.5), data=tiny_set())
    cut = options(tmp_path, "cut.pt", average=0.5)
    train(dataclasses.replace(cut, max_minutes=1e-9), data=tiny_set())
    train(cut, data=tiny_set())
    straight, resumed = load_checkpoint(tmp_path / "straight.pt"), load_checkpoint(tmp_path / "cut.pt")
    for k, v in straight["averaged_weights"].items():
        assert torch.equal(v, resumed["averaged_weights"][k]), k
    differs = [k for k, v in straight["weights"].items()
               if not torch.equal(v, straight["averaged_weights"][k])]
    assert differs  # an average of six steps is not the last step's weights
    rows = (tmp_path / "straight.csv").read_text().splitlines()
    assert rows[0].endswith(",averaged_heldout_bpd") and rows[-1].split(",")[-1]
    _, net = modelfile.read(modelfile.export(tmp_path / "straight.pt", "avg"), "avg.pxm")
    for k, v in net.state_dict().items():
        assert torch.equal(v, straight["averaged_weights"][k]), k


def test_averaging_can_start_part_way(tmp_path):
    """A checkpoint of a run without an average, resumed with --average: the average starts
    at its weights, and the older log gains the new column."""
    opts = options(tmp_path, "late.pt", steps=2)
    train(opts, data=tiny_set())
    before = load_checkpoint(tmp_path / "late.pt")["weights"]
    (tmp_path / "late.csv").write_text("step,train_bpd,heldout_bpd,heldout_nats_per_image,"
                                       "lr,seconds\n2,0.5,0.5,10.0,0.001,1.0\n")
    train(dataclasses.replace(opts, steps=3, average=0.9), data=tiny_set())
    state = load_checkpoint(tmp_path / "late.pt")
    moved = 0
    for k, v in state["averaged_weights"].items():  # 0.9 of the start, 0.1 of one step on
        expected = before[k] + 0.1 * (state["weights"][k] - before[k])
        assert torch.allclose(v, expected, rtol=0, atol=1e-7), k
        moved += not torch.equal(v, before[k])
    assert moved
    rows = (tmp_path / "late.csv").read_text().splitlines()
    assert rows[0].endswith(",averaged_heldout_bpd") and rows[1].startswith("2,0.5,0.5")
    assert rows[2].startswith("3,") and rows[2].split(",")[-1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_activation_codes_pass_the_gradient_below_the_top_code_and_stop_it_there(dtype):
    """Straight-through rounding, but a value clipped to the top code gets no gradient: else
    training pushes activations past it for ever (docs/TRAINING.md, the sixteenth run)."""
    from pixcodec.nets.quantized import CODE_MAX, InputQuantizer
    quantizer = InputQuantizer()
    quantizer.step.fill_(0.01)  # the top code stands for 2.55
    quantizer.calibrated.fill_(True)
    # codes 0, 0, 100, 250, 254, 255 (255.2 steps: rounded, not clamped), then clamped
    x = torch.tensor([0.0, 0.004, 1.0, 2.5, 2.54, 2.552, 2.57, 3.0, 40.0], dtype=dtype,
                     requires_grad=True)
    y = quantizer(x)
    assert float(y.detach().float().max()) == pytest.approx(CODE_MAX * 0.01, rel=1e-2)
    y.backward(torch.arange(1, 10, dtype=dtype))
    assert x.grad.float().tolist() == [1, 2, 3, 4, 5, 6, 0, 0, 0]
