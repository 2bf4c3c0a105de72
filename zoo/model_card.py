"""The model card (README.md) of a Hub folder: what the weights are, measured on what, trained how,
found how, and whom to cite.

    text = model_card(model, "pdarts_3b", metrics=run_metrics, evaluations=[...], drawings=[...])

Front matter is huggingface_hub's `ModelCardData` (library_name, license, tags, datasets, and a
`model-index` with one entry per measured result), so the Hub shows the results in its widget.
The body: usage, params and MACs, each accuracy with the dataset and split it was measured on and
the paper's figure beside it, the training recipe and its source, the cell drawings, the genotype
as YAML, its provenance with the evidence, BibTeX of the source papers, the license.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from huggingface_hub import EvalResult, ModelCardData

from .counting import INPUT_SIZES, count_macs, count_params
from .genotype import Genotype, dump_genotype
from .network import DartsNetwork

LICENSE = "apache-2.0"

# Dataset name (as darts-zoo calls it) -> (Hub dataset id, display name, the split darts-zoo tests on).
DATASETS = {
    "cifar10": ("cifar10", "CIFAR-10", "test"),
    "cifar100": ("cifar100", "CIFAR-100", "test"),
    "cifar10.1": ("cifar10.1", "CIFAR-10.1 (v6)", "test"),
    "imagenet": ("imagenet-1k", "ImageNet-1k", "validation"),
    "digits": ("digits", "scikit-learn digits (8x8 upsampled to 32x32)", "test"),
}
# What each dataset's split is, in words, for the results table.
SPLIT_NOTES = {
    "cifar10": "the 10,000-image test set",
    "cifar100": "the 10,000-image test set",
    "cifar10.1": "the 2,000-image v6 test set (Recht et al., arXiv:1806.00451)",
    "imagenet": "the 50,000-image validation set",
    "digits": "darts-zoo's fixed held-out 20 % (stratified, seed 0) of scikit-learn's 1,797 digits",
}

BIBTEX = {
    "darts": """@inproceedings{liu2019darts,
  title     = {{DARTS}: Differentiable Architecture Search},
  author    = {Liu, Hanxiao and Simonyan, Karen and Yang, Yiming},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2019},
  eprint    = {1806.09055},
  archivePrefix = {arXiv}
}""",
    "pdarts": """@inproceedings{chen2019pdarts,
  title     = {Progressive Differentiable Architecture Search: Bridging the Depth Gap between Search and Evaluation},
  author    = {Chen, Xin and Xie, Lingxi and Wu, Jun and Tian, Qi},
  booktitle = {IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2019},
  eprint    = {1904.12760},
  archivePrefix = {arXiv}
}""",
    "pc_darts": """@inproceedings{xu2020pcdarts,
  title     = {{PC-DARTS}: Partial Channel Connections for Memory-Efficient Architecture Search},
  author    = {Xu, Yuhui and Xie, Lingxi and Zhang, Xiaopeng and Chen, Xin and Qi, Guo-Jun and Tian, Qi and Xiong, Hongkai},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2020},
  eprint    = {1907.05737},
  archivePrefix = {arXiv}
}""",
    "sharpdarts": """@misc{hundt2019sharpdarts,
  title     = {{sharpDARTS}: Faster and More Accurate Differentiable Architecture Search},
  author    = {Hundt, Andrew and Jain, Varun and Hager, Gregory D.},
  year      = {2019},
  eprint    = {1903.09900},
  archivePrefix = {arXiv}
}""",
    "thesis": """@misc{paganucci2020efficient,
  title        = {Efficient ConvNet Architectures: Differentiable Neural Architecture Search},
  author       = {Paganucci, Silvio},
  howpublished = {Semester thesis, ETH Zurich},
  year         = {2020}
}""",
    "stretchable": """@misc{huang_stretchable_cells,
  title     = {Stretchable Cells Help {DARTS} Search Better},
  author    = {Huang, Tao and You, Shan and Yang, Yibo and Tu, Zhuozhuo and Wang, Fei and Qian, Chen and Zhang, Changshui}
}""",
    "milenas": """@inproceedings{he2020milenas,
  title     = {{MiLeNAS}: Efficient Neural Architecture Search via Mixed-Level Reformulation},
  author    = {He, Chaoyang and Ye, Haishan and Shen, Li and Zhang, Tong},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2020},
  eprint    = {2003.12238},
  archivePrefix = {arXiv}
}""",
    "cifar10.1": """@misc{recht2018cifar101,
  title     = {Do {CIFAR-10} Classifiers Generalize to {CIFAR-10}?},
  author    = {Recht, Benjamin and Roelofs, Rebecca and Schmidt, Ludwig and Shankar, Vaishaal},
  year      = {2018},
  eprint    = {1806.00451},
  archivePrefix = {arXiv}
}""",
}
_ARXIV = {"1806.09055": "darts", "1904.12760": "pdarts", "1907.05737": "pc_darts", "1903.09900": "sharpdarts",
          "2003.12238": "milenas"}
# A name (search recipe, training recipe, zoo model) -> the papers it comes from.
_NAMED = {
    "darts": ("darts",), "darts_v1": ("darts",), "darts_v2": ("darts",), "pdarts": ("pdarts",),
    "pc_darts": ("pc_darts",), "pdarts_3b": ("thesis", "pdarts"), "pdarts_n3_2g": ("thesis", "pdarts"),
    "sharpdarts": ("sharpdarts",), "sharpsepconv_darts": ("sharpdarts",), "imagenet_sharpdarts": ("sharpdarts",),
    "imagenet_pdarts": ("pdarts", "pc_darts"), "milenas": ("milenas",), "milenas_sc": ("stretchable", "milenas"),
}


def papers(g: Genotype, recipe_name: Optional[str] = None, datasets: Iterable[str] = ()) -> list[str]:
    """BibTeX keys of `BIBTEX` to cite: the genotype's source, the search recipe that found it,
    the training recipe, DARTS (the search space and the training protocol), the datasets'."""
    keys: list[str] = []
    if g.source.get("arxiv") in _ARXIV:
        keys.append(_ARXIV[str(g.source["arxiv"])])
    paper = str(g.source.get("paper", ""))
    if "Paganucci" in paper:
        keys.append("thesis")
    if "Stretchable" in paper:
        keys += ["stretchable", "milenas"]
    for name in (g.search.get("recipe"), g.source.get("recipe"), g.name, recipe_name):
        keys += _NAMED.get(str(name), ())
    keys.append("darts")
    if "cifar10.1" in datasets:
        keys.append("cifar10.1")
    return list(dict.fromkeys(keys))


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.2f} %"


def paper_top1(g: Genotype, data: str) -> tuple[Optional[float], str]:
    """The paper's top-1 accuracy (%) on `data` from the genotype's `published:` figures, as text
    with its spread, and the paper's note; (None, '') when the paper gives none."""
    row = g.published.get(data)
    if not isinstance(row, Mapping) or row.get("top1_err") is None:
        return None, ""
    acc = 100.0 - float(row["top1_err"])
    std = row.get("top1_err_std")
    text = f"{acc:.2f} %" + (f" ± {float(std):.2f}" if std is not None else "")
    return acc, text + (f" ({row['note']})" if row.get("note") else "")


def _evaluations(metrics: Optional[Mapping[str, Any]],
                 evaluations: Optional[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Each measured result as {data, split, top1, top5, n}: the given evaluations, else the run's
    final test accuracy."""
    if evaluations:
        return [dict(e) for e in evaluations if e.get("top1") is not None]
    if metrics and metrics.get("data") in DATASETS and metrics.get("top1") is not None:
        return [{"data": metrics["data"], "split": DATASETS[metrics["data"]][2], "top1": metrics["top1"],
                 "top5": metrics.get("top5"), "n": metrics.get("test_images")}]
    return []


def card_data(model: DartsNetwork, architecture: str, results: Sequence[Mapping[str, Any]],
              trained_on: Optional[str] = None) -> ModelCardData:
    g = model.genotype
    datasets = [DATASETS[d][0] for d in dict.fromkeys([trained_on or "", *(r["data"] for r in results)])
                if d in DATASETS and d != "digits"]
    eval_results = []
    for r in results:
        hub_id, name, split = DATASETS[r["data"]]
        for metric, label in (("top1", "Top-1 accuracy"), ("top5", "Top-5 accuracy")):
            if r.get(metric) is not None:
                eval_results.append(EvalResult(
                    task_type="image-classification", task_name="Image Classification", dataset_type=hub_id,
                    dataset_name=name, dataset_split=r.get("split") or split, metric_type="accuracy",
                    metric_value=round(float(r[metric]), 2), metric_name=label))
    tags = ["image-classification", "timm", "darts-zoo", "neural-architecture-search", "darts", g.name,
            f"provenance:{g.provenance.get('kind', 'searched')}"]
    return ModelCardData(library_name="timm", license=LICENSE, tags=list(dict.fromkeys(tags)),
                         datasets=datasets or None, model_name=architecture if results else None,
                         eval_results=eval_results or None, pipeline_tag="image-classification")


def model_card(model: DartsNetwork, architecture: str, metrics: Optional[Mapping[str, Any]] = None, *,
               evaluations: Optional[Sequence[Mapping[str, Any]]] = None, repo_id: Optional[str] = None,
               drawings: Sequence[str | Path] = (), curves: Optional[str] = None) -> str:
    """README.md of a Hub folder. `metrics` is a training run's metrics.json (or any flat mapping
    of extra figures); `evaluations` the measured results, each {data, split, top1, top5, n};
    `drawings` the cell images' and `curves` the training curves' paths relative to the folder."""
    g = model.genotype
    metrics = dict(metrics or {})
    results = _evaluations(metrics, evaluations)
    trained_on = metrics.get("data") if isinstance(metrics.get("data"), str) else None
    recipe = metrics.get("recipe") if isinstance(metrics.get("recipe"), Mapping) else None
    size = INPUT_SIZES[model.family]
    params, macs = count_params(model) / 1e6, count_macs(model, size) / 1e6
    preset = g.preset(model.family)
    at_paper_size = (model.layers, model.channels) == (preset.layers, preset.channels)
    repo = repo_id or "USER/REPO"
    out = ["---", card_data(model, architecture, results, trained_on).to_yaml(), "---", "",
           f"# {architecture}: {g.title or g.name}", ""]
    what = f" trained on {DATASETS[trained_on][1]}" if trained_on in DATASETS else ""
    out += [f"A `{g.name}` network ({model.layers} cells, {model.channels} initial channels, {model.family} stem, "
            f"{model.num_classes} classes){what}, built by [darts-zoo](https://pypi.org/project/darts-zoo/) as a "
            "timm model.", ""]
    if not results:
        out += ["**These weights come with no measured accuracy**: they were not evaluated when this folder was "
                "written.", ""]
    out += ["```python", "import timm", "import zoo  # registers the darts-zoo architectures with timm", "",
            f"model = timm.create_model('hf-hub:{repo}', pretrained=True).eval()",
            "config = timm.data.resolve_data_config({}, model=model)  # input size, mean, std",
            "transform = timm.data.create_transform(**config)", "```", "",
            "## Size", "", "| | this network | paper's network |", "|---|---|---|",
            f"| cells x channels | {model.layers} x {model.channels} | {preset.layers} x {preset.channels} |",
            f"| parameters (without the auxiliary head) | {params:.4f} M | {_paper(g, 'params_m', model.family)} |",
            f"| MACs (thop, one {size[1]}x{size[2]} image) | {macs:.1f} M | {_paper(g, 'macs_m', model.family)} |",
            ""]
    out += _results_section(g, results, at_paper_size, model)
    if metrics and not results:
        out += ["## Figures given", "", "| metric | value |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in metrics.items() if not isinstance(v, (Mapping, list))]
        out.append("")
    if recipe:
        out += _training_section(recipe, metrics)
    if curves:
        out += [f"![training curves: loss, accuracy and learning rate per epoch]({curves})", ""]
    if drawings:
        out += ["## Cells", ""]
        for path in drawings:
            stem = Path(path).stem
            out += [f"![{stem}]({Path(path).as_posix()})", ""]
    out += ["## Genotype", "", "The network is compiled from this genotype (darts-zoo's schema; "
            "`timm.create_model('darts_genotype', genotype='genotype.yaml')` builds it).", "",
            "```yaml", dump_genotype(g).rstrip(), "```", ""]
    out += _provenance_section(g)
    keys = papers(g, recipe.get("name") if recipe else None, [r["data"] for r in results])
    out += ["## Citation", "", "```bibtex", "\n\n".join(BIBTEX[k] for k in keys), "```", "",
            "## License", "",
            f"The weights and the darts-zoo code are released under the Apache License 2.0 (`{LICENSE}`). The "
            "architecture is the cited authors' work; the training data keep their own terms.", ""]
    return "\n".join(out)


def _paper(g: Genotype, key: str, family: str) -> str:
    row = g.published.get("cifar10" if family == "cifar" else "imagenet")
    value = row.get(key) if isinstance(row, Mapping) else None
    return "—" if value is None else f"{value} M"


def _results_section(g: Genotype, results: Sequence[Mapping[str, Any]], at_paper_size: bool,
                     model: DartsNetwork) -> list[str]:
    if not results:
        return []
    # `darts-zoo reproduce` records the difference where the run is comparable with the paper's.
    differences = any(r.get("difference") is not None for r in results)
    out = ["## Results", "",
           "| dataset | split | images | top-1 | top-5 | paper's top-1 |" + (" difference |" if differences else ""),
           "|---|---|---|---|---|---|" + ("---|" if differences else "")]
    for r in results:
        _, name, split = DATASETS[r["data"]]
        _, paper = paper_top1(g, r["data"])
        row = (f"| {name} | {r.get('split') or split} | {r.get('n') or '—'} | {_pct(r.get('top1'))} | "
               f"{_pct(r.get('top5'))} | {paper or '— (none on this dataset)'} |")
        if differences:
            row += " — |" if r.get("difference") is None else f" {r['difference']:+.2f} |"
        out.append(row)
    out.append("")
    out += [f"- {DATASETS[d][1]}, {DATASETS[d][2]}: {SPLIT_NOTES[d]}." for d in dict.fromkeys(r["data"] for r in results)]
    if not at_paper_size:
        preset = g.preset(model.family)
        out.append(f"- This network ({model.layers} x {model.channels}) is smaller than the paper's "
                   f"({preset.layers} x {preset.channels}); its accuracy is not comparable with the paper's figure.")
    out.append("")
    return out


def _training_section(recipe: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[str]:
    keys = ("epochs", "batch_size", "lr", "schedule", "lr_min", "momentum", "weight_decay", "cutout", "autoaugment",
            "auxiliary_weight", "drop_path", "grad_clip", "label_smoothing", "ema_decay", "warmup_epochs")
    out = ["## Training", "",
           f"Recipe `{recipe.get('name', '?')}`. Source: {recipe.get('source', 'not given')}.", "",
           "| setting | value |", "|---|---|"]
    out += [f"| {k} | {recipe[k]} |" for k in keys if k in recipe]
    done = metrics.get("epochs_done")
    if done is not None:
        out.append(f"| epochs trained | {done} of {metrics.get('epochs', recipe.get('epochs'))} |")
    if metrics.get("best_top1") is not None:
        out.append(f"| best test top-1 during training | {metrics['best_top1']:.2f} % at epoch {metrics.get('best_epoch')} "
                   "(the weights are the last epoch's) |")
    for key, label in (("seed", "seed"), ("wall_s", "wall time (s)"), ("limit_train", "training images (limit)")):
        if metrics.get(key) is not None:
            out.append(f"| {label} | {metrics[key]} |")
    out.append("")
    return out


def _provenance_section(g: Genotype) -> list[str]:
    kind = g.provenance.get("kind", "searched")
    meaning = {
        "exact": "the cell was published as text (a genotype in the paper or the authors' released code) and is "
                 "copied edge for edge",
        "reconstructed": "the cell was published only as a figure; the text's constraints and the paper's "
                         "parameter and MAC counts fix it as far as the evidence below says",
        "searched": "the cell was found by a search run with darts-zoo; the record below says how",
    }.get(kind, "see below")
    out = ["## Provenance", "", f"**{kind}**: {meaning}.", ""]
    if g.source.get("paper"):
        out += [f"- Source: {g.source['paper']}" + (f", {g.source['where']}" if g.source.get("where") else "") + "."]
    if g.source.get("method"):
        out += [f"- Search method: {g.source['method']}"]
    evidence = g.provenance.get("evidence")
    if evidence:
        out += ["", "Evidence:", "", *(f"> {line}" if line.strip() else ">" for line in str(evidence).strip().splitlines())]
    if g.provenance.get("by"):
        out += [f"- Produced by `{g.provenance['by']}`."]
    if g.search:
        s = g.search
        data = s.get("data", {})
        final = s.get("final", {})
        out += [f"- Search: recipe `{s.get('recipe')}`, seed {s.get('seed')}, data "
                f"{data.get('name') if isinstance(data, Mapping) else data}, {s.get('epochs')} epochs, darts-zoo "
                f"{s.get('version')}; final supernet validation accuracy "
                f"{final.get('eval_acc') if isinstance(final, Mapping) else '—'} (the genotype's `search:` record "
                "holds the final alphas)."]
    out.append("")
    return out
