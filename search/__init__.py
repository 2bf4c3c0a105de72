"""zoo.search: the DARTS family's search algorithms on the zoo's op registry and genotype format.

    from zoo.search import SearchSpace, Supernet, make_strategy
    net = Supernet(SearchSpace(nodes=3), channels=16, layers=8)
    strategy = make_strategy("first_order", net, w_opt, a_opt)
    strategy.step((x_train, y_train), (x_val, y_val))
    genotype = net.genotype(rule="grouping", max_skips=2)      # a zoo Genotype; zoo.create_model(genotype)

The runner, recipes and CLI (`darts-zoo search`) live in zoo.search.runner / .recipes / .cli.
"""

from .discretize import derive_genotype
from .pdarts import (EXTENDED_STAGES, PDARTS_STAGES, Stage, build_stage, next_stage_candidates,
                     prune_candidates, skip_dropout_rate, stage_plan)
from .space import ABLATIONS, N3_STAGES, SearchSpace, ablation_space
from .strategies import (ArchStrategy, FirstOrder, MixedLevel, OneLevel, SecondOrder, STRATEGIES,
                         make_strategy)
from .stretchable import OutputEdgeTopology
from .supernet import MixedOp, SearchCell, Supernet

__all__ = [
    "ABLATIONS", "ArchStrategy", "EXTENDED_STAGES", "FirstOrder", "MixedLevel", "MixedOp", "N3_STAGES",
    "OneLevel", "OutputEdgeTopology", "PDARTS_STAGES", "STRATEGIES", "SearchCell", "SearchSpace",
    "SecondOrder", "Stage", "Supernet", "ablation_space", "build_stage", "derive_genotype",
    "make_strategy", "next_stage_candidates", "prune_candidates", "skip_dropout_rate", "stage_plan",
]
