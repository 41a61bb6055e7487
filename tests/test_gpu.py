"""The CUDA path of training: tests that need a GPU (skipped without one) and the parts a CPU can check.

On a CPU: `bench/bench_gpu.py` smoke-tests and refuses cleanly without CUDA, `Distributed.from_env` puts each
process on its own GPU before joining NCCL, `TrainLoader` builds its CUDA loader (pinned memory, persistent
workers, reseeded each epoch), and two gloo ranks average the loss balance's gradients. On a GPU: a tiny `fit`
under bf16 autocast and a real pinned, persistent loader.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from samtl_lite.engine import TrainConfig, fit, load_checkpoint, splits_of
from samtl_lite.engine.config import default_threads
from samtl_lite.engine.loop import Distributed, TrainLoader, workers_for
from samtl_lite.models import build_model

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_gpu.py"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TINY = TrainConfig(encoder="tiny", size=32, n_train=32, n_eval=16, epochs=1, batch_size=8, num_workers=2)


def run_bench(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def test_bench_runs_on_cpu_and_prints_a_table():
    done = run_bench("--device", "cpu", "--size", "32", "--batch-size", "2", "--steps", "2", "--warmup", "1")
    assert done.returncode == 0, done.stderr
    assert "| data | model | workers | images/s | ms/step |" in done.stdout
    rows = re.findall(r"^\| (fixed batch on the device|data loader) \| eager \| [-\d]+ \| ([\d.]+) \| [\d.]+ \|$",
                      done.stdout, re.MULTILINE)
    assert [mode for mode, _ in rows] == ["fixed batch on the device", "data loader"], done.stdout
    assert all(float(per_s) > 0 for _, per_s in rows)


def test_bench_without_cuda_says_so_in_one_line_and_exits_2():
    done = run_bench(CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "--device cpu" in done.stderr


def record(calls: list, name: str):
    return lambda *args, **kwargs: calls.append((name, args, kwargs))


def fake_torchrun(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> list:
    """Rank 1 of 2 on local GPU 1, with CUDA, set_device and the process group replaced by recorders."""
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    calls: list = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "set_device", record(calls, "set_device"))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", record(calls, "init_process_group"))
    return calls


def backend_of(call: tuple) -> str:
    _, args, kwargs = call
    return kwargs.get("backend", args[0] if args else None)


def test_from_env_puts_the_process_on_its_gpu_before_joining_nccl(monkeypatch):
    calls = fake_torchrun(monkeypatch, cuda=True)
    ddp = Distributed.from_env()
    assert [name for name, _, _ in calls] == ["set_device", "init_process_group"]
    (device,), _ = calls[0][1:]
    assert (device if isinstance(device, int) else torch.device(device).index) == 1  # LOCAL_RANK, not RANK
    assert backend_of(calls[1]) == "nccl"
    assert ddp == Distributed(rank=1, world=2, local_rank=1)


@pytest.mark.parametrize(("cuda", "device"), [(False, "auto"), (True, "cpu")])
def test_from_env_off_cuda_joins_gloo_and_sets_no_device(monkeypatch, cuda, device):
    """No GPU, or `--device cpu` on a machine with one: the ranks train on the CPU and meet over gloo."""
    calls = fake_torchrun(monkeypatch, cuda=cuda)
    Distributed.from_env(device)
    assert [name for name, _, _ in calls] == ["init_process_group"]
    assert backend_of(calls[0]) == "gloo"


def _average_on_rank(rank: int, init: str, results) -> None:
    """One of two gloo ranks: a parameter whose gradient is rank + 1, averaged by `Distributed.average_grads`."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    p, untouched = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1))
    p.grad = torch.full((2,), float(rank + 1))
    Distributed(rank=rank, world=2).average_grads([p, untouched])
    results[rank] = (p.grad.tolist(), untouched.grad)
    dist.destroy_process_group()


def test_average_grads_gives_every_rank_the_mean_gradient(tmp_path):
    """The learned loss balance lives outside DistributedDataParallel: its gradients are averaged by hand, so
    every rank takes the same step (ranks 1 and 2 -> 1.5 on both; a parameter without a gradient is skipped)."""
    ctx = torch.multiprocessing.get_context("spawn")
    results = ctx.Manager().dict()
    torch.multiprocessing.start_processes(_average_on_rank, args=(f"file://{tmp_path / 'group'}", results),
                                          nprocs=2, start_method="spawn")
    assert dict(results) == {0: ([1.5, 1.5], None), 1: ([1.5, 1.5], None)}


def test_cuda_loader_pins_memory_keeps_its_workers_and_reseeds_each_epoch():
    """The CUDA branch of TrainLoader, built without a GPU (no batch is drawn)."""
    train = splits_of(TINY)[0]
    cuda = torch.device("cuda")
    loader = TrainLoader(train, TINY, Distributed(), cuda)
    first = loader.epoch(0)
    assert first.pin_memory and first.persistent_workers and first.num_workers == 2
    assert loader.epoch(3) is first  # one DataLoader serves every epoch...
    assert list(first.sampler) == list(TrainLoader(train, TINY, Distributed(), cuda).epoch(3).sampler)  # ...reseeded


def test_the_default_config_uses_workers_on_cuda():
    assert workers_for(TrainConfig(), torch.device("cuda")) == min(8, default_threads())


@CUDA
def test_one_epoch_on_cuda_under_bf16_autocast(tmp_path):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    train, val, _ = splits_of(TINY)
    model = build_model("mtl", encoder="tiny")
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    dtypes = set()
    conv.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    history = fit(model, train, val, TINY, out=tmp_path, progress=False)
    assert torch.bfloat16 in dtypes
    assert next(model.parameters()).is_cuda
    assert math.isfinite(history[0]["loss"]) and math.isfinite(history[0]["val_loss"])
    state = load_checkpoint(tmp_path / "last.pt")
    assert (tmp_path / "best.pt").is_file() and state["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


@CUDA
def test_train_loader_on_cuda_serves_pinned_batches_from_persistent_workers():
    loader = TrainLoader(splits_of(TINY)[0], TINY, Distributed(), torch.device("cuda"))
    first = loader.epoch(0)
    batch = next(iter(first))
    assert first.pin_memory and first.persistent_workers
    assert batch["image"].is_pinned() and batch["mask"].is_pinned()
    assert loader.epoch(1) is first and next(iter(first))["image"].is_pinned()
