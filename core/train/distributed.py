"""Data-parallel training under ``torchrun`` (DistributedDataParallel: gloo on CPU, nccl
on CUDA): joining the group and the few collective operations the trainer needs besides
DDP's own gradient averaging of the generator."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DistContext:
    """This process's place in a data-parallel run (a single process: not ``enabled``,
    rank 0 of 1). Only the ``main`` rank (0) writes files."""

    enabled: bool = False
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        """Destroy the process group if :func:`init_distributed` created it."""
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def init_distributed(device_name: str) -> DistContext:
    """Join the process group ``torchrun`` set up in the environment (``WORLD_SIZE`` > 1):
    gloo on CPU, nccl on CUDA; a plain process gets a disabled context."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    owns = False
    if not dist.is_initialized():
        use_cuda = device_name.startswith("cuda") or (
            device_name == "auto" and torch.cuda.is_available()
        )
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    return DistContext(True, dist.get_rank(), dist.get_world_size(), local, owns)


def broadcast_flag(d: DistContext, value: int) -> int:
    """Rank 0's ``value`` on every rank (a stop flag all ranks must agree on)."""
    if not d.enabled:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return int(t.item())


def allreduce_grads(d: DistContext, module: nn.Module) -> None:
    """Average the gradients of ``module`` over ranks (the discriminator, stepped rarely)."""
    if not d.enabled:
        return
    import torch.distributed as dist

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= d.world
    off = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[off : off + n].view_as(g))
        off += n


def broadcast_module(d: DistContext, module: nn.Module, *, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless ``buffers_only``) and buffers to every rank."""
    if not d.enabled:
        return
    import torch.distributed as dist

    tensors = [] if buffers_only else list(module.parameters())
    with torch.no_grad():
        for t in [*tensors, *module.buffers()]:
            dist.broadcast(t.data, src=0)
