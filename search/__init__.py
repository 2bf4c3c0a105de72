"""zoo.search: the DARTS family's search algorithms on the zoo's op registry and genotype format.

    from zoo.search import SearchSpace, Supernet, make_strategy
    net = Supernet(SearchSpace(nodes=3), channels=16, layers=8)
    strategy = make_strategy("first_order", net, w_opt, a_opt)
    strategy.step((x_train, y_train), (x_val, y_val))
    genotype = net.genotype(rule="grouping", max_skips=2)      # a zoo Genotype; zoo.create_model(genotype)

    path = run_search("pdarts_3b", data="digits", out="pd3b.yaml")  # a whole recipe, to a genotype file

A run (search/run.py) composes registered components (search/components.py): a search space,
a strategy, a discretization rule and a learning-rate schedule, named by a recipe (recipes.py).
"""

from .components import RULES, SCHEDULES, SPACES, CellSpace
from .discretize import derive_genotype
from .pdarts import (EXTENDED_STAGES, PDARTS_STAGES, Stage, build_stage, next_stage_candidates,
                     prune_candidates, skip_dropout_rate, stage_plan)
from .space import ABLATIONS, N3_STAGES, SearchSpace, ablation_space
from .strategies import (ArchStrategy, FirstOrder, MixedLevel, OneLevel, SecondOrder, STRATEGIES,
                         make_strategy)
from .stretchable import OutputEdgeTopology
from .epoch import SearchDiverged
from .recipes import RECIPES, SearchRecipe, apply_overrides, get_recipe
from .registry import Registry
from .run import RunOptions, SearchPaused, SearchRun, run_search
from .supernet import MixedOp, SearchCell, Supernet
# DAG building blocks (docs/dag-blocks.md): the space, the sampling distribution, the search, the stack trainer.
from .dag_ensemble import DenseDagEnsemble
from .dag_search import (DAG_SEARCH_SETTINGS, SAMPLINGS, SPLITS, DagSearchConfig, DagSearchResult, DagSupernet,
                         dag_checkpoint_folder, dag_genotype, run_dag_search, save_dag_genotype)
from .dag_space import Archive, DagSpace, EdgeDistribution, complete_dag, dag_depth, enumerate_dags

__all__ = [
    "Archive", "DAG_SEARCH_SETTINGS", "DagSearchConfig", "DagSearchResult", "DagSpace", "DagSupernet",
    "DenseDagEnsemble", "EdgeDistribution", "SAMPLINGS", "SPLITS", "complete_dag", "dag_checkpoint_folder",
    "dag_depth", "dag_genotype",
    "enumerate_dags", "run_dag_search", "save_dag_genotype",
    "ABLATIONS", "ArchStrategy", "CellSpace", "RECIPES", "RULES", "Registry", "RunOptions", "SCHEDULES", "SPACES",
    "SearchDiverged", "SearchPaused", "SearchRecipe", "SearchRun", "apply_overrides", "get_recipe", "run_search", "EXTENDED_STAGES", "FirstOrder", "MixedLevel", "MixedOp", "N3_STAGES",
    "OneLevel", "OutputEdgeTopology", "PDARTS_STAGES", "STRATEGIES", "SearchCell", "SearchSpace",
    "SecondOrder", "Stage", "Supernet", "ablation_space", "build_stage", "derive_genotype",
    "make_strategy", "next_stage_candidates", "prune_candidates", "skip_dropout_rate", "stage_plan",
]
