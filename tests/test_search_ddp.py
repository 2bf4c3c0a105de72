"""Data-parallel search on CPU: 2 gloo processes, different data per rank, identical alphas."""

import json
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    import os

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from zoo.search.distributed import AllReduceOptimizer
    from zoo.search.space import SearchSpace
    from zoo.search.strategies import make_strategy
    from zoo.search.supernet import Supernet

    result = {}
    for name in ("first_order", "second_order"):
        torch.manual_seed(0)  # same init on every rank, as the runner does per stage
        net = Supernet(SearchSpace(nodes=2), channels=4, layers=3)
        init = [a.detach().clone() for a in net.arch_parameters()]
        w = AllReduceOptimizer(torch.optim.SGD(net.weight_parameters(), lr=0.05, momentum=0.9), world)
        a = AllReduceOptimizer(torch.optim.Adam(net.arch_parameters(), lr=0.01, betas=(0.5, 0.999)), world)
        strategy = make_strategy(name, net, w, a)
        g = torch.Generator().manual_seed(100 + rank)  # each rank its own shard
        for _ in range(2):
            x, y = torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)
            xv, yv = torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)
            strategy.step((x, y), (xv, yv))
        result[name] = {
            "alphas": [p.detach().tolist() for p in net.arch_parameters()],
            "moved": max(float((p.detach() - i).abs().max()) for p, i in zip(net.arch_parameters(), init)),
            "weight": net.classifier.weight.detach().tolist(),
            "data": x.sum().item(),
        }

    # The runner itself under 2 ranks (rank 0 writes the outputs).
    from torch.utils.data import TensorDataset
    from zoo.search import run_search

    gen = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(32, 3, 16, 16, generator=gen), torch.arange(32) % 10)
    path = run_search("darts_v1", data="digits", out=f"{folder}/ddp.yaml", epochs=1, seed=0,
                      overrides={"channels": 4, "layers": 3, "batch_size": 8}, dataset=ds,
                      progress=False, log=lambda line: None)
    result["path"] = str(path)
    with open(f"{folder}/rank{rank}.json", "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_keep_identical_alphas(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    for name in ("first_order", "second_order"):
        assert r0[name]["data"] != r1[name]["data"]          # the ranks saw different batches
        assert r0[name]["moved"] > 1e-4                         # the alphas were updated
        assert r0[name]["alphas"] == r1[name]["alphas"]         # ... identically on both ranks
        assert r0[name]["weight"] == r1[name]["weight"]
    import zoo

    g = zoo.load_genotype(tmp_path / "ddp.yaml")
    assert g.search["world_size"] == 2 and r0["path"] == r1["path"]
