"""darts-zoo: DARTS-family cells as real, trainable timm models, and the searches that find them.

    import zoo, timm
    model = timm.create_model("pdarts_3b")              # every zoo model is registered with timm
    model = zoo.create_model("path/to/cell.yaml")        # or any genotype file of your own
"""

from .errors import CheckpointError, DataError, GenotypeError, HubError, OutputError, ZooError
from .genotype import (Edge, CellType, Genotype, Preset, dump_genotype, genotype_from_dict,
                       load_genotype, make_genotype, save_genotype)
from .network import DartsNetwork
from .ops import get_op_set, op_set_names, register_op, register_op_set
from .models import ZOO_NAMES, create_model, genotype_dir, resolve_genotype, zoo_genotype

__version__ = "0.1.0"

__all__ = [
    "CellType", "CheckpointError", "DartsNetwork", "DataError", "Edge", "Genotype", "GenotypeError",
    "HubError", "OutputError", "Preset", "ZOO_NAMES", "ZooError", "create_model", "dump_genotype", "genotype_dir",
    "genotype_from_dict", "get_op_set", "load_genotype", "make_genotype", "op_set_names",
    "register_op", "register_op_set", "resolve_genotype", "save_genotype", "zoo_genotype",
]
