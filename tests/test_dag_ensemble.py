"""Training a stack of dense DAG networks at once is training each one alone (zoo.search.dag_ensemble)."""

import torch
import torch.nn.functional as F

from zoo.dag_network import DagNetwork
from zoo.search.dag_ensemble import DenseDagEnsemble
from zoo.search.dag_search import DagSearchConfig, dag_genotype
from zoo.search.dag_space import DagSpace, enumerate_dags


def test_the_stack_trains_like_each_network_alone():
    torch.manual_seed(0)
    cfg = DagSearchConfig(vertices=3, width=6, aggregate="mean")
    dags = enumerate_dags(DagSpace(3))
    nets = [DagNetwork(dag_genotype("n", d, cfg), num_classes=4, in_chans=1, img_size=2) for d in dags]
    ens = DenseDagEnsemble.from_networks(nets)
    x, y = torch.randn(8, 1, 2, 2), torch.randint(0, 4, (8,))
    torch.testing.assert_close(ens(x), torch.stack([n(x) for n in nets]))
    opts = [torch.optim.Adam(n.parameters(), lr=0.01) for n in nets]
    ens_opt = torch.optim.Adam(ens.parameters(), lr=0.01)
    for _ in range(4):
        for n, o in zip(nets, opts):
            o.zero_grad()
            F.cross_entropy(n(x), y).backward()
            o.step()
        ens_opt.zero_grad()
        ens.loss(x, y).backward()
        ens_opt.step()
    torch.testing.assert_close(ens(x), torch.stack([n(x) for n in nets]), atol=1e-5, rtol=1e-5)
    expected = [100.0 * float((n(x).argmax(1) == y).float().mean()) for n in nets]
    assert ens.accuracy(x, y) == expected


def test_a_fresh_stack_is_initialized_like_nn_linear():
    ens = DenseDagEnsemble([(), ((0, 1),)], 2, 16, 9, 3, seed=1)
    assert ens.stem_w.abs().max() <= 1 / 3 and ens.edge_w["0_1"].abs().max() <= 1 / 4
    assert float(ens.bias[0].detach().abs().sum()) == 0.0
