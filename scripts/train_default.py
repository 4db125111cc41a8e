"""Train a shipped default PixelCNN on CPU (the simple trainer of the codec issue).

Data: random crops of photos-train, urban100-half and bsd68 (every 10th bsd68 image held out)
plus the first 3,000 CIFAR-10 images: every --cifar-every-th step is a batch of 16 whole CIFAR
images instead of photo crops. Never Kodak. Resumes from --checkpoint when it exists.

    python scripts/train_default.py --data ../shared/data --colours 3 --minutes 60 \
        --checkpoint runs/rgb.pt
"""
from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pixcodec.data import (CIFAR10_HELDOUT_START, CIFAR10_NPZ, FOLDER_HELDOUT_EVERY, CropSampler,
                           load_cifar10_npz, load_folder)
from pixcodec.nets import PixelCNN, PixelCNNConfig

PHOTO_SETS = ("photos-train", "urban100-half", "bsd68")


def training_images(data: Path, colours: int) -> tuple[list, list, list]:
    """(training photos, held-out photos, the 3,000 CIFAR-10 training images)."""
    train, held_out = [], []
    for name in PHOTO_SETS:
        images = load_folder(data / name, colours)
        for i, im in enumerate(images):
            (held_out if name == "bsd68" and i % FOLDER_HELDOUT_EVERY == 0 else train).append(im)
    cifar = list(load_cifar10_npz(data / CIFAR10_NPZ, colours)[:CIFAR10_HELDOUT_START])
    return train, held_out, cifar


def bits_per_dim(net: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    logits = net(x)  # (B, C, 256, H, W)
    return F.cross_entropy(logits.transpose(1, 2), x.long()) / math.log(2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--colours", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--out-features", type=int, default=96)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--cifar-every", type=int, default=0,
                    help="every K-th step is a batch of 16 CIFAR images (0: CIFAR crops mixed "
                         "in with the photos, which needs --crop 32)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--total-steps", type=int, default=20000, help="length of the lr schedule")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config = PixelCNNConfig(args.colours, args.hidden, args.blocks, args.out_features)
    net = PixelCNN(config)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    step = 0
    if args.checkpoint.exists():
        state = torch.load(args.checkpoint, weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
    train, held_out, cifar = training_images(args.data, args.colours)
    if args.cifar_every:
        crops = CropSampler(train, args.crop)
        cifar_batches = CropSampler(cifar, 32)
    else:
        crops = CropSampler(train + cifar, args.crop)
    rng = np.random.default_rng(args.seed + step)
    eval_batch = torch.from_numpy(CropSampler(held_out, 64).sample(32, np.random.default_rng(1234)))
    log_path = args.checkpoint.with_suffix(".csv")
    deadline = time.time() + 60 * args.minutes
    running = None
    while time.time() < deadline and step < args.total_steps:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.total_steps))
        for group in opt.param_groups:
            group["lr"] = lr
        if args.cifar_every and step % args.cifar_every == args.cifar_every - 1:
            x = torch.from_numpy(cifar_batches.sample(16, rng))
        else:
            x = torch.from_numpy(crops.sample(args.batch, rng))
        loss = bits_per_dim(net, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 250 == 0:
            with torch.no_grad():
                held = bits_per_dim(net, eval_batch).item()
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([step, f"{running:.4f}", f"{held:.4f}", f"{lr:.6f}"])
            print(f"step {step} train {running:.3f} held-out {held:.3f} lr {lr:.5f}", flush=True)
            tmp = args.checkpoint.with_suffix(".tmp")
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                        "config": config.to_dict()}, tmp)
            tmp.replace(args.checkpoint)


if __name__ == "__main__":
    main()
