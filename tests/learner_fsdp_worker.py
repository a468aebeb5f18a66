"""Runs one SC-GRPO learner step on a fixed batch in 1 process or N FSDP2 processes (gloo, CPU).

``python tests/learner_fsdp_worker.py OUT WORLD_SIZE [lora]`` (``lora``: LoRA adapters, tests/test_lora.py) writes ``{"loss", "metrics", "params"}`` to OUT with
torch.save. Rank r of N trains on groups r, r+N, ...; the result must match the single process.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]


def build():
    from conftest import _CORPUS
    from learner_utils import make_group

    from agentrl.bpe import train_bpe_tokenizer
    from agentrl.chat import ChatFormat
    from agentrl.models import tiny_qwen3
    from policies.base import Policy

    tok = train_bpe_tokenizer(_CORPUS * 20, vocab_size=600)
    fmt = ChatFormat(tok, chat_template="tiny")
    policy = Policy(system_prompt="You are a helpful assistant.")
    model = tiny_qwen3(len(tok), hidden_size=32, num_layers=2, intermediate_size=64, seed=5, initializer_range=0.1)
    v = len(tok)
    groups = [make_group(fmt, policy, "a", [1, 0, 1, 0], seed=1, vocab=v),
              make_group(fmt, policy, "b", [0, 0.2, 0, 0.1], seed=2, vocab=v),
              make_group(fmt, policy, "c", [1, 0, 0, 1, 1], seed=3, vocab=v, turns=3),
              make_group(fmt, policy, "d", [1, 0, 0], seed=4, vocab=v)]
    return fmt, policy, model, groups


def run(rank: int, world: int, out: str, port: int, lora: bool = False) -> None:
    if os.environ.get("LEARNER_DEBUG"):
        import faulthandler; faulthandler.dump_traceback_later(45, exit=True)
    from agentrl.config.schema import AlgoConfig
    from agentrl.learner import Learner

    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    fmt, policy, model, groups = build()
    if lora:
        from agentrl.config.schema import LoraConfig
        from agentrl.lora import apply_lora

        model = apply_lora(model, LoraConfig(enabled=True, rank=4, alpha=8.0), seed=3)
    # one rollout per micro-batch, so that c (a micro-batch statistic) is the same however the batch is split
    cfg = AlgoConfig(name="sc_grpo", micro_batch_tokens=1, max_grad_norm=0.05)
    learner = Learner(model, fmt, policy, cfg, optimizer=lambda params: torch.optim.SGD(params, lr=1.0))
    metrics = learner.step(groups[rank::world])
    state = learner.state_dict()
    if rank == 0:
        torch.save({"metrics": metrics, "params": state}, out)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
        print(f"rank {rank}: done", flush=True)
        # gloo's worker threads occasionally abort in C++ static destructors at interpreter exit
        # ("terminate called without an active exception", ~1 run in 10 here); the work is finished.
        os._exit(0)


if __name__ == "__main__":
    out, world, lora = sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["lora"]
    if world == 1:
        run(0, 1, out, 0, lora)
    else:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(run, args=(world, out, port, lora), nprocs=world)
