"""DAG building blocks (zoo.dag_network, the `dag:` genotype field): masks on shared weights,
the compiled network as a timm model, the genotype's checks."""

import pytest
import timm
import torch
import yaml

import zoo
from zoo.dag_network import IN, DagBody, DagNetwork, all_edges, count_dags, edge_key, used_edges, wiring
from zoo.errors import GenotypeError, ZooError


def _scalar_body(aggregate="sum"):
    """Width 1, every edge a hand-set scalar, biases 0: the arithmetic is done by hand below."""
    body = DagBody(3, 1, "dense", all_edges(3), aggregate)
    weights = {(IN, 0): 3.0, (IN, 1): 11.0, (IN, 2): 5.0, (0, 1): 7.0, (0, 2): 11.0, (1, 2): 11.0}
    with torch.no_grad():
        for (i, j), w in weights.items():
            body.edge_ops[edge_key(i, j)].weight.fill_(w)
    return body


def test_wiring_sources_read_the_input_and_sinks_feed_the_output():
    ins, sinks = wiring(3, ((0, 1),))
    assert ins == ((IN,), (0,), (IN,)) and sinks == (1, 2)
    assert used_edges(3, ((0, 1),)) == ((IN, 0), (0, 1), (IN, 2))
    assert len(all_edges(4)) == 4 + 6


def test_a_mask_runs_only_its_edges_by_hand():
    body = _scalar_body()
    x = torch.tensor([[2.0]])
    out = body(x, ((0, 1),))
    # h0 = 3*2 = 6, h1 = 7*6 = 42, h2 = 5*2 = 10 (a source); output = sinks 1 and 2 summed.
    assert out.item() == 52.0
    out.sum().backward()
    grads = {k: (None if m.weight.grad is None else m.weight.grad.item()) for k, m in body.edge_ops.items()}
    assert grads == {"in_0": 14.0, "in_1": None, "in_2": 2.0, "0_1": 6.0, "0_2": None, "1_2": None}
    assert _scalar_body("mean")(x, ((0, 1),)).item() == 26.0


def test_shared_weights_receive_the_sum_of_their_active_uses():
    body = _scalar_body()
    x = torch.tensor([[2.0]])
    a, b = ((0, 1),), ((0, 1), (1, 2))
    outs = body.forward_blocks(x, [a, b])
    # block a as above (52); block b: h0 = 6, h1 = 42, h2 = 11*42 = 462, the only sink.
    assert outs.flatten().tolist() == [52.0, 462.0]
    outs.sum().backward()
    g = {k: m.weight.grad for k, m in body.edge_ops.items()}
    assert g["0_1"].item() == 6.0 + 11.0 * 6.0       # a: h0; b: w12 * h0
    assert g["1_2"].item() == 42.0                   # b only
    assert g["in_2"].item() == 2.0                   # a only (in b, layer 2 has a predecessor)
    assert g["0_2"] is None and g["in_1"] is None    # no block uses them: never run


@pytest.mark.parametrize("layer,pool,aggregate", [("dense", "none", "sum"), ("dense", "none", "mean"),
                                                  ("conv_3x3", "max", "sum"), ("conv_1x1", "avg", "mean")])
def test_stacked_blocks_equal_blocks_run_one_by_one(layer, pool, aggregate):
    torch.manual_seed(0)
    body = DagBody(4, 3, layer, all_edges(4), aggregate, pool)
    x = torch.randn(5, 3) if layer == "dense" else torch.randn(5, 3, 4, 4)
    dags = [(), ((0, 1), (1, 3)), ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))]
    together = body.forward_blocks(x, dags)
    for k, d in enumerate(dags):
        torch.testing.assert_close(together[k], body(x, d))


def test_dense_baseline_is_a_zoo_entry_with_hand_counted_parameters():
    m = timm.create_model("dag_dense_l4", in_chans=1, img_size=8)
    # stem 64*64 + 64, 6 edges + 1 input edge of 64x64, 4 biases of 64, classifier 64*10 + 10
    assert sum(p.numel() for p in m.parameters()) == 4160 + 7 * 4096 + 256 + 650
    assert m(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    g = zoo.zoo_genotype("dag_dense_l4")
    assert g.dag.edges == tuple((i, j) for i in range(4) for j in range(i + 1, 4))
    assert (g.dag.depth(), g.dag.sources, g.dag.sinks) == (4, (0,), (3,))
    assert g.provenance["kind"] == "exact" and "dag_dense_l4" not in zoo.ZOO_NAMES


def test_a_dag_genotype_file_builds_through_darts_genotype(tmp_path):
    path = tmp_path / "block.yaml"
    path.write_text("name: block\ndag: {vertices: 3, width: 8, layer: conv_3x3, pool: max, "
                    "edges: [[0, 2]]}\nprovenance: {kind: searched}\n")
    m = timm.create_model("darts_genotype", genotype=str(path), num_classes=4)
    assert isinstance(m, DagNetwork) and m.genotype.op_set == "dag"
    x = torch.randn(2, 3, 32, 32)
    feats = m.forward_features(x)
    assert feats.shape == (2, 8, 32, 32)
    assert m.forward_head(feats, pre_logits=True).shape == (2, 8)
    m.reset_classifier(7)
    assert m(x).shape == (2, 7) and m.get_classifier().out_features == 7
    assert [f["module"] for f in m.feature_info] == ["stem", "body"]
    # used edges: (0, 2) and the input edges of the sources 0 and 1: three 8x8 3x3 convs.
    assert sum(p.numel() for p in m.body.edge_ops.parameters()) == 3 * 8 * 8 * 9
    g = zoo.load_genotype(path)
    assert zoo.genotype_from_dict(yaml.safe_load(zoo.dump_genotype(g))) == g
    with pytest.raises(ZooError, match="no pretrained weights"):
        timm.create_model("darts_genotype", genotype=str(path), pretrained=True)


def test_dag_counts_by_hand():
    assert [count_dags(l) for l in range(1, 6)] == [1, 2, 8, 64, 1024]


@pytest.mark.parametrize("dag,field", [
    ({"vertices": 0, "edges": []}, "dag.vertices"),
    ({"vertices": 3, "edges": [[1, 1]]}, "dag.edges[0]"),
    ({"vertices": 3, "edges": [[0, 3]]}, "dag.edges[0]"),
    ({"vertices": 3, "edges": [[0, 1], [0, 1]]}, "dag.edges"),
    ({"vertices": 3, "edges": [], "aggregate": "max"}, "dag.aggregate"),
    ({"vertices": 3, "edges": [], "layer": "sep_conv_3x3"}, "dag.layer"),
    ({"vertices": 3, "edges": [], "pool": "max"}, "dag.pool"),
    ({"vertices": 3, "edges": [], "colour": 1}, "dag.colour"),
])
def test_bad_dag_fields_are_one_line(dag, field):
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict({"name": "b", "dag": dag})
    assert e.value.field == field and "\n" not in str(e.value)


def test_dag_layers_stay_out_of_cell_op_sets():
    assert "dag" not in zoo.op_set_names()
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict({"name": "b", "op_set": "darts", "dag": {"vertices": 2, "edges": []}})
    assert e.value.field == "op_set"
    with pytest.raises(GenotypeError, match="builds DAG blocks, not cells"):
        zoo.genotype_from_dict({"name": "b", "op_set": "dag", "cells": {"normal": {"nodes": [[["skip_connect", 0]]]},
                                "reduce": {"nodes": [[["skip_connect", 0]]]}}})


def test_a_dag_genotype_has_no_cells():
    with pytest.raises(GenotypeError, match="no cells"):
        zoo.genotype_from_dict({"name": "b", "dag": {"vertices": 2, "edges": []},
                                "cells": {"normal": {"nodes": [[["skip_connect", 0]]]}}})
