"""Pretraining throughput: one full DINO-MC step, and the multi-crop augmentation, in images per second.

``python benchmarks/pretrain_throughput.py --arch vit_small_patch16_224 --batch-size 8`` prints one JSON line:
``train_images_per_s`` times the trainer's own step (2 x 224 + 6 local crops of 184..84 px, student forward and
backward, teacher forward, DINO loss, clipped AdamW update, EMA), warm-up steps excluded;
``official_images_per_s`` times, in the same run and on the same networks and crops, the step as the official
``main_dino.py`` writes it (float32, no autocast, ``torch.optim.AdamW`` with its CPU default of one tensor at a
time, a Python loop over the parameters for the per-tensor gradient clipping and another for the teacher's EMA),
and ``speedup`` is their ratio; ``aug_images_per_s`` times the augmentation of 13-band 256 px inputs into all 8
views in one process with one thread, as one data loader worker runs it.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from dinomc_core.ssl.augment import DEFAULT_LOCAL_SIZES, MultiCropAugmentation, crop_specs
from dinomc_core.ssl.config import PRECISIONS, PretrainConfig
from dinomc_core.ssl.distributed import DistributedContext, resolve_device
from dinomc_core.ssl.optim import parameter_groups
from dinomc_core.ssl.trainer import Training, build_training, train_step

SENTINEL2_BANDS = 13
AUGMENT_INPUT_SIZE = 256


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_small_patch16_224")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--bands", type=int, default=3, help="input bands of the training step (RGB as the official code)")
    parser.add_argument("--out-dim", type=int, default=65536)
    parser.add_argument("--precision", default="bf16", choices=PRECISIONS)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--aug-images", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the training step (default: torch's)")
    return parser.parse_args()


def official_step(training: Training, crops: list[torch.Tensor], epoch: int, iteration: int) -> None:
    """One step as ``main_dino.py``'s ``train_one_epoch`` writes it (float32; ``utils.clip_gradients`` and the
    EMA as Python loops over the parameters)."""
    with torch.no_grad():
        teacher_output = training.teacher(crops[: training.global_crops_number])
    student_output = training.student(crops)
    loss = training.dino_loss(student_output, teacher_output, epoch)
    training.optimizer.zero_grad()
    loss.backward()
    for parameter in training.student_module.parameters():
        if parameter.grad is not None:
            clip_coefficient = training.clip_grad / (parameter.grad.data.norm(2) + 1e-6)
            if clip_coefficient < 1:
                parameter.grad.data.mul_(clip_coefficient)
    training.optimizer.step()
    momentum = float(training.schedules.momentum[iteration])
    with torch.no_grad():
        for student_parameter, teacher_parameter in zip(training.student_module.parameters(), training.teacher.parameters()):
            teacher_parameter.data.mul_(momentum).add_((1 - momentum) * student_parameter.detach().data)


def images_per_s(args: argparse.Namespace, precision: str, official: bool) -> float:
    """Images per second of a training step on random crops (the data loader is not included): the trainer's own
    ``train_step`` at ``precision``, or the official step (float32, the optimiser of its time)."""
    device = resolve_device(args.device)
    config = PretrainConfig(
        data=["unused"], out="unused", arch=args.arch, mode="dinomc", batch_size=args.batch_size,
        out_dim=args.out_dim, precision=precision, epochs=2, seed=0,
    )
    sizes = [config.global_size] * 2 + list(DEFAULT_LOCAL_SIZES)
    steps = args.warmup_steps + args.steps
    torch.manual_seed(0)
    training = build_training(config, args.bands, steps, len(sizes), DistributedContext(0, 1, 0, device))
    if official:
        training.optimizer = torch.optim.AdamW(parameter_groups(training.student_module), foreach=False)
    step = official_step if official else train_step
    crops = [torch.randn(args.batch_size, args.bands, size, size, device=device) for size in sizes]
    # epoch 1: past the first epoch, so the head's last layer is trained too
    for iteration in range(steps, steps + args.warmup_steps):
        step(training, crops, epoch=1, iteration=iteration)
    synchronize(device)
    started = time.perf_counter()
    for iteration in range(steps + args.warmup_steps, 2 * steps):
        step(training, crops, epoch=1, iteration=iteration)
    synchronize(device)
    return args.steps * args.batch_size / (time.perf_counter() - started)


def aug_images_per_s(images: int) -> float:
    """Images per second of the DINO-MC augmentation of 13-band 256 px Sentinel-2-like inputs, one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    global_views, local_views = crop_specs("dinomc", 224, DEFAULT_LOCAL_SIZES)
    bands = SENTINEL2_BANDS
    augment = MultiCropAugmentation(global_views, local_views, [1e-4] * bands, [0.15] * bands, [0.1] * bands, (3, 2, 1))
    raw = torch.randint(0, 4000, (images, bands, AUGMENT_INPUT_SIZE, AUGMENT_INPUT_SIZE)).float()
    augment(raw[0])
    started = time.perf_counter()
    for image in raw:
        augment(image)
    elapsed = time.perf_counter() - started
    torch.set_num_threads(threads)
    return images / elapsed


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = {
        "arch": args.arch,
        "batch_size": args.batch_size,
        "bands": args.bands,
        "out_dim": args.out_dim,
        "precision": args.precision,
        "device": str(resolve_device(args.device)),
        "threads": torch.get_num_threads(),
        "train_images_per_s": round(ours := images_per_s(args, args.precision, official=False), 3),
        "official_images_per_s": round(official := images_per_s(args, "fp32", official=True), 3),
        "speedup": round(ours / official, 2),
        "aug_images_per_s": round(aug_images_per_s(args.aug_images), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
