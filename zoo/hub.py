"""Weights to and from the Hugging Face Hub, in timm's format (model.safetensors + config.json)
plus a model card, so that `timm.create_model("hf-hub:ORG/REPO", pretrained=True)` (after
`import zoo`) rebuilds the exact network, searched genotypes included: a genotype that is not a
zoo model travels inside config.json and is compiled by the generic `darts_genotype` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

from huggingface_hub import HfApi
from timm.models import save_for_hf

from .counting import INPUT_SIZES, count_macs, count_params
from .errors import HubError
from .genotype import genotype_to_dict
from .models import ZOO_NAMES, zoo_genotype
from .runtime import first_line
from .network import DartsNetwork


def _architecture(model: DartsNetwork) -> tuple[str, dict[str, Any]]:
    """timm architecture name and the keyword arguments that rebuild this exact network."""

    args: dict[str, Any] = dict(layers=model.layers, channels=model.channels,
                                num_classes=model.num_classes,
                                auxiliary=model.auxiliary_head is not None)
    g = model.genotype
    base = dict(g.op_options)
    name = g.name
    if name in ZOO_NAMES:
        zoo_g = zoo_genotype(name)
        if zoo_g.cells == g.cells and zoo_g.stages == g.stages:
            if g.op_set != zoo_g.op_set:
                args["op_set"] = g.op_set
            args.update({k: v for k, v in base.items() if zoo_g.op_options.get(k) != v})
            return (name if model.family == "cifar" else f"{name}_imagenet"), args
    args["genotype"] = genotype_to_dict(g)
    return ("darts_genotype" if model.family == "cifar" else "darts_genotype_imagenet"), args


def model_card(model: DartsNetwork, architecture: str, metrics: Optional[Mapping[str, Any]] = None) -> str:
    g = model.genotype
    size = INPUT_SIZES[model.family]
    params = count_params(model) / 1e6
    macs = count_macs(model, size) / 1e6
    lines = [
        "---", "library_name: timm", "license: apache-2.0", "tags: [image-classification, timm, darts-zoo, nas]",
        "---", "", f"# {architecture}: {g.title or g.name}", "",
        f"A {g.name} network ({model.layers} layers, {model.channels} channels, {model.family} stem) "
        "from [darts-zoo](https://pypi.org/project/darts-zoo/).", "",
        "```python", "import timm, zoo  # importing zoo registers the architectures with timm",
        "model = timm.create_model('hf-hub:REPO_ID', pretrained=True)", "```", "",
        f"- parameters (without the auxiliary head): {params:.4f}M",
        f"- MACs (thop, one {size[1]}x{size[2]} image): {macs:.1f}M",
        f"- genotype provenance: {g.provenance.get('kind', '?')}",
    ]
    if g.source.get("paper"):
        lines.append(f"- source: {g.source['paper']}" + (f" — {g.source['where']}" if g.source.get("where") else ""))
    if metrics:
        lines += ["", "## Results", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "## Genotype", "", "```yaml", json.dumps(genotype_to_dict(g), indent=1, default=list), "```", ""]
    return "\n".join(lines)


def save_pretrained(model: DartsNetwork, directory: str | Path,
                    metrics: Optional[Mapping[str, Any]] = None) -> Path:
    """Write model.safetensors, config.json and README.md to `directory` (all or nothing)."""

    directory = Path(directory)
    architecture, args = _architecture(model)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent if directory.parent.exists() else None))
    try:
        save_for_hf(model, str(staging), model_config={"architecture": architecture}, model_args=args,
                    safe_serialization=True)
        config = json.loads((staging / "config.json").read_text())
        config["architecture"] = architecture
        config["model_args"] = args
        (staging / "config.json").write_text(json.dumps(config, indent=2, default=list))
        (staging / "README.md").write_text(model_card(model, architecture, metrics))
        directory.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            os.replace(item, directory / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def push_to_hub(model: DartsNetwork, repo_id: str, metrics: Optional[Mapping[str, Any]] = None,
                private: bool = False, token: Optional[str] = None) -> str:
    """Upload weights, config and model card to a Hub model repo; returns the repo URL."""

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "export", metrics)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                              commit_message="Upload darts-zoo model")
        except Exception as e:  # network, auth, quota: all end as one line for the user
            raise HubError(f"could not upload to the Hub repo {repo_id!r} ({type(e).__name__}: {first_line(e)}); "
                           "check the network and `huggingface-cli login`") from None
    return str(url)
