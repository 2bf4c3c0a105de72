"""The zoo: every genotype file under `zoo/genotypes` registered with timm, CIFAR and ImageNet.

    import zoo, timm
    timm.create_model("pdarts_3b")                       # CIFAR, the paper's 26 layers x 36 channels
    timm.create_model("pdarts_imagenet", layers=14)      # ImageNet, overrides by keyword
    timm.create_model("darts_genotype", genotype="my_cell.yaml", num_classes=100)
    zoo.create_model("my_cell.yaml", family="imagenet")
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Mapping, Union

import timm
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .budget import check_network
from .errors import GenotypeError, HubError, ZooError, closest
from .genotype import Genotype, genotype_from_dict, load_genotype
from .network import CIFAR_MEAN, CIFAR_STD, DartsNetwork
from .dag_network import DagNetwork
from .pretrained import DEFAULT_HUB_ORG, published_weights
from .runtime import first_line

# The zoo, in the order the README's table lists it: the thesis and papers' cells, then baselines.
ZOO_NAMES = (
    "pdarts_3b", "pdarts_n3_2g", "sharpdarts", "milenas_sc_l8", "milenas_sc_l12", "milenas_sc_l16",
    "darts_v1", "darts_v2", "pdarts", "pc_darts", "sharpsepconv_darts",
)
# DAG building blocks (op set `dag`, docs/dag-blocks.md): baselines for the DAG search; one timm
# entry each (CIFAR-sized input by default, `in_chans`/`img_size` for others), no ImageNet twin.
DAG_ZOO_NAMES = ("dag_dense_l4",)
HUB_ORG = DEFAULT_HUB_ORG  # where the project publishes; the setting is zoo.pretrained.hub_org()
GenotypeLike = Union[str, Path, Genotype, Mapping[str, Any]]


def genotype_dir() -> Path:
    """Where the zoo's genotype files are: `zoo/genotypes` in an installed wheel, `genotypes/` at
    the top of a source checkout (an editable install maps the package there)."""
    package = Path(__file__).resolve().parent
    installed = package / "genotypes"
    return installed if installed.is_dir() else package.parent / "genotypes"


@functools.lru_cache(maxsize=None)
def zoo_genotype(name: str) -> Genotype:
    """The genotype of a zoo model by name (with or without the `_imagenet` suffix)."""
    base = name[: -len("_imagenet")] if name.endswith("_imagenet") else name
    if base not in ZOO_NAMES + DAG_ZOO_NAMES:
        shown = repr(name) if len(name) <= 80 else repr(name[:60] + "...")
        raise ZooError(f"{shown} is not a zoo model or a genotype file: {closest(base[:200], ZOO_NAMES)} "
                       "(`darts-zoo list` shows them all)")
    return load_genotype(genotype_dir() / f"{base}.yaml")


def resolve_genotype(genotype: GenotypeLike) -> Genotype:
    """A zoo name, a path to a YAML file, a mapping in the file's format, or a Genotype."""
    if isinstance(genotype, Genotype):
        return genotype
    if isinstance(genotype, Mapping):
        return genotype_from_dict(dict(genotype), where="<genotype mapping>")
    text = str(genotype)
    if text.endswith((".yaml", ".yml")) or _is_file(text):
        return load_genotype(text)
    return zoo_genotype(text)


def _is_file(text: str) -> bool:
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL byte: not a file
        return False


def _pretrained_cfg(name: str, family: str, g: Genotype) -> dict[str, Any]:
    cifar = family == "cifar"
    model_name = name if cifar else f"{name}_imagenet"
    first_conv = "stem.0" if cifar else "stem0.0"
    cfg = dict(
        num_classes=10 if cifar else 1000,
        input_size=(3, 32, 32) if cifar else (3, 224, 224),
        pool_size=(8, 8) if cifar else (7, 7),
        crop_pct=1.0 if cifar else 0.875,
        interpolation="bilinear" if cifar else "bicubic",
        mean=CIFAR_MEAN if cifar else IMAGENET_DEFAULT_MEAN,
        std=CIFAR_STD if cifar else IMAGENET_DEFAULT_STD,
        first_conv=first_conv,
        classifier="classifier",
        license="apache-2.0",
        paper_ids=g.source.get("arxiv", ""),
        notes=(g.title,),
    )
    if g.source.get("paper"):
        cfg["paper_name"] = g.source["paper"]
    # Weights only where zoo/pretrained.yaml lists them, so timm.list_pretrained() tells the truth.
    published = published_weights().get(f"{model_name}.{_tag(family)}")
    if published is not None:
        cfg.update(hf_hub_id=published.hf_hub_id, hf_hub_filename=published.file)
    return cfg


def _tag(family: str) -> str:
    return "cifar10" if family == "cifar" else "in1k"


def _build(variant: str, genotype: Genotype, family: str, pretrained: bool, **kwargs: Any) -> DartsNetwork:
    kwargs.setdefault("num_classes", 10 if family == "cifar" else 1000)
    if genotype.dag is not None:
        return _build_dag(variant, genotype, family, pretrained, **kwargs)
    check_network(genotype, family, **kwargs)  # too many cells, or more memory than this machine has
    source = ""
    if pretrained:
        # Inline: zoo.hub imports this module. The weights are found first (a local file, the cache,
        # or the Hub when it answers), each failure its own line; timm then loads that file.
        from .hub import pretrained_source

        kwargs, source = pretrained_source(variant, kwargs)
    try:
        return build_model_with_cfg(
            DartsNetwork, variant, pretrained,
            genotype=genotype, family=family,
            # Feature points: the stem and the last cell of each block (reductions + 2 of them).
            feature_cfg=dict(feature_cls="getter", out_indices=tuple(range(genotype.num_reductions + 2))),
            **kwargs,
        )
    except ZooError:
        raise
    except (OSError, RuntimeError, KeyError) as e:
        if not pretrained:
            raise
        from .hub import pretrained_error  # inline: zoo.hub imports this module

        raise pretrained_error(variant, source, e) from None


def _build_dag(variant: str, genotype: Genotype, family: str, pretrained: bool, **kwargs: Any) -> DagNetwork:
    """A DAG block network (zoo.dag_network): no published weights, no feature-extractor wrapper."""
    if pretrained:
        raise ZooError(f"{variant}: no pretrained weights exist for DAG blocks; train one with "
                       "`darts-zoo search-bench dag` or load a state dict yourself")
    if kwargs.pop("features_only", False):
        raise ZooError(f"{variant}: DAG block networks have no feature pyramid (features_only); "
                       "use forward_features for the block output")
    kwargs.pop("pretrained_cfg_overlay", None)
    return build_model_with_cfg(DagNetwork, variant, False, genotype=genotype, family=family, **kwargs)


def create_model(genotype: GenotypeLike, family: str = "cifar", pretrained: bool = False,
                 **kwargs: Any) -> DartsNetwork:
    """Build a network from a zoo name, a genotype file, a mapping or a Genotype.

    `family` is `cifar` (32x32 stem) or `imagenet` (224x224 stem); keyword arguments override
    the genotype's preset (layers, channels, auxiliary, drop_path_rate, op options such as c_mid)
    and timm's (num_classes, in_chans, global_pool, features_only, ...).
    """
    name = str(genotype)
    if isinstance(genotype, str) and name.startswith(("local-dir:", "hf-hub:")):
        if name.startswith("local-dir:"):
            _check_local_dir(Path(name[len("local-dir:"):]).expanduser())
        else:
            from .hub import check_hub_config  # inline: zoo.hub imports this module

            check_hub_config(name)
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    if isinstance(genotype, str) and name.endswith("_imagenet") and name[:-9] in ZOO_NAMES:
        name, family = name[:-9], "imagenet"
    if isinstance(genotype, str) and name in DAG_ZOO_NAMES:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    if isinstance(genotype, str) and name in ZOO_NAMES:
        model_name = name if family == "cifar" else f"{name}_imagenet"
        return timm.create_model(model_name, pretrained=pretrained, **kwargs)
    g = resolve_genotype(genotype)
    entry = "darts_genotype" if family == "cifar" else "darts_genotype_imagenet"
    return timm.create_model(entry, pretrained=pretrained, genotype=g, **kwargs)


def _check_local_dir(folder: Path) -> None:
    """timm reads a local-dir's config.json itself, with a bare traceback for a damaged one; check
    it first so that the problem is one line naming the file."""
    config = folder / "config.json"
    fix = "point at a folder written by zoo.hub.save_pretrained (model.safetensors, config.json)"
    if not config.is_file():
        raise HubError(f"{config}: no such file; {fix}")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HubError(f"{config}: not valid JSON ({first_line(e, 120)}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("architecture"), str):
        raise HubError(f"{config}: has no `architecture` name; {fix}")


# --------------------------------------------------------------------------- timm registration
def _make_entrypoint(name: str, family: str):
    model_name = name if family == "cifar" else f"{name}_imagenet"

    def entrypoint(pretrained: bool = False, **kwargs: Any) -> DartsNetwork:
        return _build(model_name, zoo_genotype(name), family, pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = model_name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"{name} ({family}): compiled from genotypes/{name}.yaml."
    return entrypoint


def _generic_entrypoint(family: str):
    model_name = "darts_genotype" if family == "cifar" else "darts_genotype_imagenet"

    def entrypoint(pretrained: bool = False, genotype: GenotypeLike | None = None, **kwargs: Any) -> DartsNetwork:
        if genotype is None:
            raise ZooError(f"{model_name} needs genotype=PATH_OR_NAME (a genotype YAML file, a zoo "
                           "name, or a mapping in the file's format)")
        return _build(model_name, resolve_genotype(genotype), family, pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = model_name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"Any genotype ({family}): timm.create_model('{model_name}', genotype='cell.yaml')."
    return entrypoint


def _register_all() -> None:
    cfgs = {}
    for name in ZOO_NAMES:
        g = zoo_genotype(name)
        for family in ("cifar", "imagenet"):
            model_name = name if family == "cifar" else f"{name}_imagenet"
            cfgs[f"{model_name}.{_tag(family)}"] = _pretrained_cfg(name, family, g)
    for family in ("cifar", "imagenet"):
        generic = "darts_genotype" if family == "cifar" else "darts_genotype_imagenet"
        cfgs[generic] = _pretrained_cfg(generic, family, Genotype(name=generic, cells={}))
    for name in DAG_ZOO_NAMES:
        cfg = _pretrained_cfg(name, "cifar", zoo_genotype(name))
        cfg.pop("hf_hub_id", None)
        cfgs[name] = dict(cfg, first_conv="stem.1", pool_size=None)
    module = sys.modules[__name__]
    module.default_cfgs = generate_default_cfgs(cfgs)
    for name in ZOO_NAMES:
        for family in ("cifar", "imagenet"):
            fn = _make_entrypoint(name, family)
            setattr(module, fn.__name__, register_model(fn))
    for family in ("cifar", "imagenet"):
        fn = _generic_entrypoint(family)
        setattr(module, fn.__name__, register_model(fn))
    for name in DAG_ZOO_NAMES:
        fn = _make_entrypoint(name, "cifar")
        setattr(module, fn.__name__, register_model(fn))


_register_all()
