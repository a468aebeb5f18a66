"""Data-parallel training with PyTorch FSDP2 (``fully_shard``) under ``torchrun``; gloo on CPU, NCCL on CUDA.

Each rank gets its own groups. Loss denominators are summed over ranks so every rank's loss is its share of
the global batch loss; FSDP2 averages gradients over ranks, so :func:`world_size` scales each rank's loss
back. FSDP2 gathers parameters inside every forward, so all ranks must run the same number of forward and
backward passes: :func:`global_max` lets the learner pad the short ranks with dummy passes.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    """A process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def init_distributed(timeout_s: float = 1800.0) -> bool:
    """Initialise the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); returns whether it did.

    The backend is NCCL when CUDA is available and gloo otherwise; on CUDA each rank uses ``LOCAL_RANK``.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return is_distributed()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout_s))
    return True


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks of a transformers model (classes named in ``_no_split_modules``)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    inner = getattr(model, "model", model)
    names |= set(getattr(inner, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise TypeError(f"cannot find the transformer blocks of {type(model).__name__} to shard "
                        "(it declares no _no_split_modules)")
    return layers


def shard(root: nn.Module, model: nn.Module, device: torch.device) -> nn.Module:
    """Apply FSDP2: every transformer block of ``model`` is a unit, ``root`` (wrapping ``model``) the rest."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world_size(),))
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(root, mesh=mesh)
    return root


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks (identity in one process)."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def global_max(value: int, device: torch.device) -> int:
    """The largest ``value`` over ranks (identity in one process)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def full_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """A full (unsharded) CPU state dict of ``module`` for checkpoints and weight sync.

    Under FSDP2 every rank must call it; rank 0 gets the tensors (other ranks get an empty dict).
    """
    if not is_distributed():
        return {k: v.detach().cpu() for k, v in module.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """The 1-D CPU tensors ``t`` of every rank, concatenated in rank order (``t`` itself on one process)."""
    if not is_distributed():
        return t
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, t.cpu())
    return torch.cat(parts)
