"""`pixcodec sample` / `complete`: exact, seeded draws from the codec's integer tables."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixcodec import sampling, zoo
from pixcodec.cli.main import main


def test_draws_follow_the_integer_weights():
    rng = np.random.default_rng(0)
    weights = np.tile(np.array([[1.0, 0.0, 3.0, 4.0]]), (8000, 1))
    drawn = sampling.draw(weights, rng)
    counts = np.bincount(drawn, minlength=4) / len(drawn)
    assert counts[1] == 0  # a zero weight is never drawn
    assert np.allclose(counts, [1 / 8, 0, 3 / 8, 4 / 8], atol=0.02)


@pytest.mark.parametrize("name,shape", [("logistic-rgb-v1", (7, 9)), ("pixelcnn-binary-v1", (28, 20))])
def test_the_same_seed_draws_the_same_images_with_any_thread_count(name, shape):
    net = zoo.load_model(name)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = sampling.sample(net, 3, *shape, seed=5)
        torch.set_num_threads(2)
        two = sampling.sample(net, 3, *shape, seed=5)
    finally:
        torch.set_num_threads(before)
    assert one.shape == (3, *shape, net.config.colours) and np.array_equal(one, two)
    assert not np.array_equal(one, sampling.sample(net, 3, *shape, seed=6))
    assert not np.array_equal(one[0], one[1])  # each tile its own image
    if name == "pixelcnn-binary-v1":
        assert set(np.unique(one)) <= {0, 1}


def test_completions_keep_the_kept_pixels_exactly(rng):
    net = zoo.load_model("logistic-rgb-v1")
    pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    keep = rng.random((10, 12)) < 0.5
    done = sampling.complete(net, pixels, keep, 2, seed=1)
    for image in done:
        assert np.array_equal(image[keep], pixels[keep])
    assert not np.array_equal(done[0][~keep], done[1][~keep])


def test_commands_write_grids_and_refuse_bad_options(tmp_path):
    runner = CliRunner()
    out = tmp_path / "grid.png"
    result = runner.invoke(main, ["sample", "-m", "pixelcnn-binary-v1", "-n", "2", "-o", str(out),
                                  "--each"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] > 2 * 28 and (tmp_path / "grid-1.png").exists()
    assert runner.invoke(main, ["sample", "-n", "0", "-o", str(out)]).exit_code == 2
    unknown = runner.invoke(main, ["sample", "-m", "nope", "-o", str(tmp_path / "x.png")])
    assert unknown.exit_code == 1 and "unknown model 'nope'" in unknown.output
    Image.fromarray(np.full((6, 8, 3), 90, dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((5, 8), dtype=np.uint8)).save(tmp_path / "mask.png")
    wrong = runner.invoke(main, ["complete", str(tmp_path / "a.png"), "--mask",
                                 str(tmp_path / "mask.png"), "-o", str(tmp_path / "c.png")])
    assert wrong.exit_code == 1 and "8x6 pixels" in wrong.output
    done = runner.invoke(main, ["complete", str(tmp_path / "a.png"), "--keep-rows", "3", "-n", "2",
                                "-o", str(tmp_path / "c.png")])
    assert done.exit_code == 0, done.output
    assert "24 of 48 pixels kept" in done.output


def test_a_training_checkpoint_can_be_sampled(tmp_path):
    from pixcodec.train import TrainOptions, train
    from test_train import tiny_set
    checkpoint = tmp_path / "run.pt"
    train(TrainOptions(model="mnist_pixelcnn", data="bars", checkpoint=checkpoint, steps=2,
                       batch=2, eval_every=2, eval_images=2, threads=1), data=tiny_set())
    runner = CliRunner()
    result = runner.invoke(main, ["sample", "-m", str(checkpoint), "-n", "2", "--size", "6x5",
                                  "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert "from run.pt" in result.output
    Image.fromarray(np.eye(6, 5, dtype=bool)).save(tmp_path / "digit.png")
    done = runner.invoke(main, ["complete", str(tmp_path / "digit.png"), "-m", str(checkpoint),
                                "-n", "2", "-o", str(tmp_path / "c.png")])
    assert done.exit_code == 0, done.output
    Image.fromarray(np.zeros((6, 5, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    unlike = runner.invoke(main, ["complete", str(tmp_path / "rgb.png"), "-m", str(checkpoint),
                                  "-o", str(tmp_path / "d.png")])
    assert unlike.exit_code == 1 and "does not model images like this one" in unlike.output
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    refused = runner.invoke(main, ["sample", "-m", str(junk), "-o", str(tmp_path / "h.png")])
    assert refused.exit_code == 1 and "not a checkpoint of pixcodec train" in refused.output
