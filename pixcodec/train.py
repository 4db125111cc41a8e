"""Training: any preset network (``pixcodec.nets.presets``) on any training set
(``pixcodec.data.open_training_sets``: one or several mixed), on the GPU when there is one.

The loop knows nothing about the network beyond ``net(x) -> logits (B, C, levels, H, W)``; the
loss is the NLL in nats per subpixel, reported in bits/dim (and in nats per image for binary
data, as Table 4 reports MNIST). RMSProp as in §5 by default. A checkpoint holds everything
needed to go on exactly where it stopped: weights, optimizer, step, the sampler's random state,
the weights' running average (``--average``) and the options; resuming continues the same run, so
a long training can be cut into chunks.

Several GPUs: ``torchrun --nproc_per_node N -m pixcodec train ...`` runs one process per GPU
with DistributedDataParallel; every process draws its own batches; rank 0 logs and saves.
"""
from __future__ import annotations

import copy
import csv
import math
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import TrainingSet, open_training_sets
from .errors import ModelError
from .nets.presets import PRESETS, build, make_network, normalise_config, parameter_count
from .nets.quantized import calibrate


@dataclass
class TrainOptions:
    model: str                       # a preset name
    data: str | list[str]            # a training set name or path, or several to mix
    checkpoint: Path                 # written every `save_every` steps; resumed from if present
    data_root: str | None = None
    steps: int = 20000               # total steps of the run (and of the lr schedule)
    batch: int = 16                  # per process
    lr: float = 1e-3
    optimizer: str = "rmsprop"       # "rmsprop" (§5) or "adam"
    schedule: str = "cosine"         # "cosine" decay to 0 over `steps`, or "constant"
    warmup: int = 0                  # steps of a linear ramp from 0 to `lr` (times the schedule)
    clip: float = 1.0                # gradient norm clipping; 0 turns it off
    crop: int = 32                   # crop side for image folders
    heldout: str = "default"         # binarized MNIST: "valid", "test" or "valid-tail"
    eval_every: int = 500
    eval_images: int = 1000          # held-out images per evaluation (all: 0)
    save_every: int = 250
    seed: int = 0
    device: str = "auto"             # "auto", "cpu", "cuda"
    amp: bool = True                 # bfloat16 autocast on CUDA, and on CPUs with bf16 units
    threads: int = 0                 # CPU threads (0: torch's default)
    max_minutes: float = 0           # stop (after saving) when the time is up; 0: no limit
    init: Path | None = None         # a new run starts from this checkpoint's matching weights
    average: float = 0.0             # decay of the weights' running average (e.g. 0.9995); 0: none


def nll_nats(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean NLL in nats per subpixel of uint8 symbols x (B, C, H, W)."""
    network = getattr(net, "module", net)  # DistributedDataParallel wraps the network
    return network.loss(net(x), x)


def _cpu_has_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively here (AMX or AVX-512 BF16): then
    autocast trains the photo networks 1.5-1.9x faster (photo_logistic: 940 -> 490-680 ms a
    step), with gradients within 6 % of float32's (cosine 0.9993). Elsewhere bfloat16 is
    emulated and slower, so float32 stays."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _lr_at(opts: TrainOptions, step: int) -> float:
    # A fresh Adam's first steps move every weight by about lr whatever its gradient: a ramp
    # keeps them from shaking a network started from trained weights (--init).
    ramp = min(1.0, (step + 1) / opts.warmup) if opts.warmup else 1.0
    if opts.schedule == "constant":
        return opts.lr * ramp
    return opts.lr * ramp * 0.5 * (1 + math.cos(math.pi * min(step, opts.steps) / opts.steps))


def _optimizer(opts: TrainOptions, params) -> torch.optim.Optimizer:
    if opts.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=opts.lr, alpha=0.95, eps=1e-6)
    if opts.optimizer == "adam":
        return torch.optim.Adam(params, lr=opts.lr)
    raise ValueError(f"unknown optimizer {opts.optimizer!r} (rmsprop, adam)")


@torch.no_grad()
def evaluate(net: torch.nn.Module, images: np.ndarray, device: torch.device,
             batch: int = 64) -> float:
    """Mean NLL in nats per subpixel over `images` (N, C, H, W) uint8 (float arithmetic)."""
    was_training = net.training
    net.eval()
    total = 0.0
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch]).to(device)
        total += float(nll_nats(net, x)) * x.numel()
    net.train(was_training)
    return total / images.size


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_kind: str) -> Distributed:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed()
    torch.distributed.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return Distributed(torch.distributed.get_rank(), world, int(os.environ.get("LOCAL_RANK", 0)))


def _device(opts: TrainOptions, dist: Distributed) -> torch.device:
    kind = opts.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        torch.cuda.set_device(dist.local_rank)
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")


class Log:
    """CSV log next to the checkpoint, and TensorBoard when it is installed."""

    FIELDS = ["step", "train_bpd", "heldout_bpd", "heldout_nats_per_image", "lr", "seconds",
              "averaged_heldout_bpd"]

    def __init__(self, path: Path, enabled: bool):
        self.path = path
        self.enabled = enabled
        self.board = None
        if enabled:
            self._upgrade_header()
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.board = SummaryWriter(str(path.with_suffix("")) + "-tensorboard")
            except ImportError:  # tensorboard is optional
                pass

    def _upgrade_header(self) -> None:
        """A log begun by an older version, with fewer columns, is rewritten with them all (its
        rows' new columns empty), so that every row of a resumed run has one header."""
        if not self.path.exists():
            return
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or reader.fieldnames == self.FIELDS:
                return
            rows = list(reader)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in self.FIELDS})
        if self.board is not None:
            for k, v in row.items():
                if k != "step" and v != "":
                    self.board.add_scalar(k, v, row["step"])


class WeightAverage:
    """An exponential moving average of a network's weights (Polyak averaging; PixelCNN++
    evaluates with decay 0.9995). Late in a run each step moves the weights by about the
    learning rate in a direction set by one batch, so the held-out loss wobbles from step to
    step; the average over the last 1 / (1 - decay) steps smooths that out. It lives in a copy
    of the network, so it is evaluated and saved like one."""

    def __init__(self, net: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"the average's decay must lie between 0 and 1, not {decay}")
        self.decay = decay
        self.net = copy.deepcopy(net).eval()
        self.net.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        for mean, weight in zip(self.net.parameters(), net.parameters()):
            mean.lerp_(weight, 1 - self.decay)


def save_checkpoint(path: Path, net, optimizer, step: int, rng: np.random.Generator,
                    opts: TrainOptions, average: WeightAverage | None = None) -> None:
    state = {
        "model": opts.model, "architecture": PRESETS[opts.model][0],
        "config": normalise_config(*PRESETS[opts.model]),  # every field: as export writes
        "weights": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
        "sampler_state": _rng_state_to_tensors(rng), "torch_rng": torch.get_rng_state(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
    }
    if average is not None:
        state["averaged_weights"] = average.net.state_dict()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a crash mid-save never leaves a broken checkpoint


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def model_weights(state: dict) -> dict:
    """The weights a checkpoint stands for, as a model (exported, sampled, measured, or the
    start of another run): the running average where the run kept one."""
    return state.get("averaged_weights", state["weights"])


def _initialise(net: torch.nn.Module, source: Path, verbose: bool) -> None:
    """Copy every weight of another checkpoint that `net` has under the same name and shape,
    and embed the smaller ones of a narrower network of the same kind (a network grown by a
    zero-initialised part, or widened, starts as the one it grew from)."""
    weights = model_weights(load_checkpoint(source))
    own = net.state_dict()
    taken = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    widened = {k: _embedded(v, own[k]) for k, v in weights.items()
               if k in own and k not in taken and _fits_inside(v, own[k])}
    net.load_state_dict(taken | widened, strict=False)
    left = sorted(set(own) - set(taken) - set(widened))
    if verbose:
        print(f"initialised {len(taken)} of {len(own)} tensors from {source}"
              + (f", widened {len(widened)}" if widened else "")
              + (f"; as built: {', '.join(left)}" if left else ""), file=sys.stderr)


def _fits_inside(small: torch.Tensor, large: torch.Tensor) -> bool:
    return small.dim() == large.dim() and all(s <= t for s, t in zip(small.shape, large.shape))


# A widened layer's new outputs start at this fraction of their fresh initialisation: small new
# channels disturb the trained ones less. Tried because h = 80 widened to 96 at full size drifted
# above its start (docs/TRAINING.md, the thirteenth and fourteenth runs); through 3,500 steps
# it made no difference there, and the fourteenth run started from it.
NEW_CHANNELS_SCALE = 0.1


def _embedded(small: torch.Tensor, built: torch.Tensor) -> torch.Tensor:
    """A widened layer's tensor: the narrow one in its leading corner; the old outputs read
    nothing of the new inputs (zero), so every old channel, and the network's output, keeps
    its value; the new outputs keep their fresh initialisation, scaled down
    (NEW_CHANNELS_SCALE), so they learn something else."""
    out = built * NEW_CHANNELS_SCALE if built.is_floating_point() else built.clone()
    if small.dim() >= 2:
        out[:small.shape[0], small.shape[1]:] = 0
    out[tuple(slice(0, n) for n in small.shape)] = small
    return out


def network_from_checkpoint(path: str | Path) -> torch.nn.Module:
    """The network a checkpoint holds, in eval mode (torch's weights-only loader: tensors and
    plain containers, no code)."""
    try:
        state = load_checkpoint(Path(path))
        net = make_network(state["architecture"], state["config"])
        net.load_state_dict(model_weights(state))
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as exc:
        raise ModelError(f"{path}: not a checkpoint of pixcodec train "
                         f"({type(exc).__name__})") from None
    return net.eval()


def _rng_state_to_tensors(rng: np.random.Generator) -> dict:
    # weights_only loading accepts tensors and plain containers; PCG64's 128-bit integers are
    # stored as decimal strings.
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"],
            "state": str(state["state"]["state"]), "inc": str(state["state"]["inc"]),
            "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}


def _rng_from_state(saved: dict) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": saved["bit_generator"],
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"], "uinteger": saved["uinteger"]}
    return rng


Progress = Callable[[int, int, dict], None]


def _setup(opts: TrainOptions, device: torch.device):
    """(network, optimizer, whether bfloat16 autocast is used), as a run starts."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    net = build(opts.model).to(device)
    if net.prefers_channels_last and device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    use_amp = opts.amp and (device.type == "cuda" or _cpu_has_bfloat16())
    return net, _optimizer(opts, net.parameters()), use_amp


def _step(model, net, optimizer, x: torch.Tensor, clip: float, use_amp: bool) -> torch.Tensor:
    """One optimisation step on the batch x; the loss (nats per subpixel). `model` is `net`,
    or its DistributedDataParallel wrapper."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_amp):
        loss = nll_nats(model, x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    optimizer.step()
    return loss


def measure_throughput(opts: TrainOptions, steps: int, warmup: int = 2) -> dict:
    """Training speed of a preset as `train` would run it (threads, bfloat16, channels-last,
    the optimizer and clipping), on random images of `opts.crop` a side: no data, no
    checkpoint. Returns images/s and ms a step (median over `steps` timed steps)."""
    if opts.model not in PRESETS:
        raise ValueError(f"unknown model configuration {opts.model!r} "
                         f"(known: {', '.join(PRESETS)})")
    device = _device(opts, Distributed())
    net, optimizer, use_amp = _setup(opts, device)
    shape = (opts.batch, net.config.colours, opts.crop, opts.crop)
    rng = np.random.default_rng(opts.seed)
    net.train()
    seconds = []
    for step in range(warmup + steps):
        x = torch.from_numpy(rng.integers(0, net.config.levels, shape, dtype=np.uint8)).to(device)
        began = time.perf_counter()
        _step(net, net, optimizer, x, opts.clip, use_amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            seconds.append(time.perf_counter() - began)
    step_s = float(np.median(seconds))
    return {"model": opts.model, "images_per_s": opts.batch / step_s, "ms_per_step": 1000 * step_s,
            "batch": opts.batch, "side": opts.crop, "threads": torch.get_num_threads(),
            "bfloat16": use_amp, "device": device.type, "steps": steps}


def train(opts: TrainOptions, progress: Progress | None = None,
          data: TrainingSet | None = None) -> dict:
    """Train (or resume) until `opts.steps`; returns the last figures. `progress(step, total,
    figures)` is called after every step."""
    if opts.model not in PRESETS:
        raise ValueError(f"unknown model configuration {opts.model!r} "
                         f"(known: {', '.join(PRESETS)})")
    dist = _init_distributed("cuda" if opts.device != "cpu" and torch.cuda.is_available()
                             else "cpu")
    device = _device(opts, dist)
    net, optimizer, use_amp = _setup(opts, device)
    specs = [opts.data] if isinstance(opts.data, str) else list(opts.data)
    data = data or open_training_sets(specs, opts.data_root, net.config.colours,
                                      net.config.levels, opts.crop, opts.heldout)
    step = 0
    rng = np.random.default_rng([opts.seed, dist.rank])
    checkpoint = Path(opts.checkpoint)
    if opts.init is not None and not checkpoint.exists():
        _initialise(net, Path(opts.init), dist.main)
    state = load_checkpoint(checkpoint) if checkpoint.exists() else {}
    if state:
        if state["model"] != opts.model:
            raise ValueError(f"{checkpoint} holds model {state['model']!r}, not {opts.model!r}")
        net.load_state_dict(state["weights"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        if dist.world == 1:
            rng = _rng_from_state(state["sampler_state"])
        else:  # every rank's stream, moved on by the step count
            rng = np.random.default_rng([opts.seed, dist.rank, step])
    else:  # a fresh run: a quantized network's activation steps fit its first weights
        calibrate(net, torch.from_numpy(data.train.sample(
            4 * opts.batch, np.random.default_rng([opts.seed, 1]))).to(device))
    # A run that starts averaging part-way (or resumes a checkpoint that kept no average)
    # starts the average at the weights it has.
    average = WeightAverage(net, opts.average) if opts.average else None
    if average is not None and "averaged_weights" in state:
        average.net.load_state_dict(state["averaged_weights"])
    model = net
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[dist.local_rank] if device.type == "cuda" else None)
    log = Log(checkpoint.with_suffix(".csv"), dist.main)
    heldout = data.heldout[:opts.eval_images] if opts.eval_images else data.heldout
    dims_per_image = int(np.prod(heldout.shape[1:]))
    if dist.main and step == 0:
        print(f"{opts.model}: {parameter_count(net):,} parameters; {data.name}: "
              f"{len(heldout)} held-out images; device {device}", file=sys.stderr)
    deadline = time.time() + 60 * opts.max_minutes if opts.max_minutes else None
    running = None
    figures: dict = {"step": step}
    start = time.time()
    net.train()
    while step < opts.steps:
        lr = _lr_at(opts, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = torch.from_numpy(data.train.sample(opts.batch, rng)).to(device)
        loss = _step(model, net, optimizer, x, opts.clip, use_amp)
        if average is not None:
            average.update(net)
        step += 1
        bpd = loss.item() / math.log(2)
        running = bpd if running is None else 0.98 * running + 0.02 * bpd
        figures = {"step": step, "train_bpd": running, "lr": lr,
                   "seconds": time.time() - start}
        last = step == opts.steps or (deadline is not None and time.time() > deadline)
        if step % opts.eval_every == 0 or last:
            nats = evaluate(net, heldout, device)
            figures["heldout_bpd"] = nats / math.log(2)
            figures["heldout_nats_per_image"] = nats * dims_per_image
            if average is not None:
                figures["averaged_heldout_bpd"] = evaluate(average.net, heldout,
                                                           device) / math.log(2)
        if dist.main and (step % opts.save_every == 0 or last):
            save_checkpoint(checkpoint, net, optimizer, step, rng, opts, average)
        if "heldout_bpd" in figures:
            log.write(figures)
        if progress is not None and dist.main:
            progress(step, opts.steps, figures)
        if last:
            break
    if dist.world > 1:
        torch.distributed.destroy_process_group()
    return figures
