"""Weights to and from the Hugging Face Hub, in timm's format (model.safetensors + config.json)
plus a model card, so that `timm.create_model("hf-hub:ORG/REPO", pretrained=True)` (after
`import zoo`) rebuilds the exact network, searched genotypes included: a genotype that is not a
zoo model travels inside config.json and is compiled by the generic `darts_genotype` entry point.

Pretrained weights (`pretrained=True`) are found before timm builds the network
(`pretrained_source`): a local `file`, the Hugging Face cache, or a download when the Hub answers a
2-second probe. HF_HUB_OFFLINE is honoured, huggingface_hub's retry lines are silenced, and every
way of not finding them (offline, no network, no such repo or file, a missing local file) is its
own one-line error naming what was tried, within seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from huggingface_hub import HfApi, constants as hf_constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.utils import (EntryNotFoundError, GatedRepoError, LocalEntryNotFoundError,
                                   RepositoryNotFoundError, RevisionNotFoundError)
from safetensors import safe_open
from timm.models import resolve_pretrained_cfg, save_for_hf

from .atomic import output_errors
from .counting import INPUT_SIZES, count_macs, count_params
from .errors import CheckpointError, HubError, ZooError
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
    with output_errors(directory):  # a full disk or a read-only folder: one line
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent if directory.parent.exists() else None))
    try:
        with output_errors(directory):
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

    why = "HF_HUB_OFFLINE is set" if hub_offline() else hub_unreachable()
    if why is not None:  # at once, instead of huggingface_hub's retries
        raise HubError(f"could not upload to the Hub repo {repo_id!r}: {why}; connect to the network (and unset "
                       "HF_HUB_OFFLINE), then retry")
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


# --------------------------------------------------------------------------- pretrained weights
HUB_PROBE_TIMEOUT_S = 2.0
HUB_WEIGHTS = "model.safetensors"
LOCAL_WEIGHTS_HINT = "pass pretrained_cfg_overlay=dict(file='model.safetensors') for local weights"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, as huggingface_hub read it at import or as the environment says now."""
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return bool(hf_constants.HF_HUB_OFFLINE) or env in {"1", "ON", "YES", "TRUE"}


def hub_unreachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> Optional[str]:
    """Why the Hub cannot be reached, or None: a DNS lookup and a TCP connection to its host (or to
    the HTTPS proxy the environment names) within `timeout` seconds, DNS included (a thread)."""
    endpoint = urllib.parse.urlsplit(hf_constants.ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parts.hostname or host, parts.port or 80
    outcome: list[Optional[str]] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(f"{type(e).__name__}: {first_line(e, 120)}")

    thread = threading.Thread(target=probe, name="darts-zoo-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"{host}:{port} did not answer within {timeout:g} s"
    return None if outcome[0] is None else f"{host}:{port} cannot be reached ({outcome[0]})"


@contextlib.contextmanager
def _quiet_hub_logs() -> Iterator[None]:
    """huggingface_hub logs a warning per retry; the outcome is reported as one line instead."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_hub_config(spec: str) -> None:
    """Before timm fetches an `hf-hub:ORG/REPO` model's config.json (with huggingface_hub's retries):
    one line at once when it is not cached and the Hub is off or cannot be reached."""
    repo = spec[len("hf-hub:"):].partition("@")[0]
    if isinstance(try_to_load_from_cache(repo, "config.json"), str):
        return
    why = "HF_HUB_OFFLINE is set" if hub_offline() else hub_unreachable()
    if why is not None:
        raise HubError(f"{spec}: cannot fetch {repo}'s config.json ({why}) and it is not in the local Hugging Face "
                       "cache; check the network, or use local-dir:FOLDER with a folder save_pretrained wrote")


def _hub_file(variant: str, repo: str, filename: str, revision: Optional[str]) -> Path:
    """The Hub file as a local path: from the cache when offline or when the Hub cannot be reached,
    downloaded otherwise."""
    tried = f"{repo} ({filename})"
    cached = try_to_load_from_cache(repo, filename, revision=revision)
    cached = Path(cached) if isinstance(cached, str) else None
    if hub_offline():
        if cached is not None:
            return cached
        raise HubError(f"{variant}: HF_HUB_OFFLINE is set and the pretrained weights {tried} are not in the local "
                       f"Hugging Face cache; unset HF_HUB_OFFLINE to download them, or {LOCAL_WEIGHTS_HINT}")
    why = hub_unreachable()
    if why is not None:
        if cached is not None:
            return cached
        raise HubError(f"{variant}: cannot download the pretrained weights {tried}: the Hugging Face Hub is not "
                       f"reachable ({why}); connect to the network (or set HTTPS_PROXY), or {LOCAL_WEIGHTS_HINT}")
    try:
        with _quiet_hub_logs():
            return Path(hf_hub_download(repo, filename, revision=revision))
    except GatedRepoError:
        problem, fix = f"hf.co/{repo} is gated", "accept its terms on the Hub and `huggingface-cli login`"
    except RepositoryNotFoundError:
        problem, fix = (f"the Hub has no model repo {repo}",
                        "check the name, or `huggingface-cli login` if the repo is private")
    except RevisionNotFoundError:
        problem, fix = f"hf.co/{repo} has no revision {revision!r}", "check the revision after '@'"
    except LocalEntryNotFoundError as e:  # the connection failed after the probe (no cached copy)
        problem, fix = f"the download failed ({first_line(e, 120)})", "check the network"
    except EntryNotFoundError:
        problem, fix = f"hf.co/{repo} has no {filename}", "check the repo's files"
    except Exception as e:  # HTTP and connection errors of every kind: one line
        if cached is not None:
            return cached
        problem, fix = f"the download failed ({type(e).__name__}: {first_line(e, 120)})", "check the network"
    raise HubError(f"{variant}: cannot load the pretrained weights {tried}: {problem}; {fix}, or {LOCAL_WEIGHTS_HINT}")


def pretrained_source(variant: str, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Before timm builds `variant` with pretrained weights: find them as a local file (the `file`
    of pretrained_cfg_overlay, or the Hub's file from the cache or a download) and point timm at
    it. Returns the keyword arguments to build with and the weights' name for error messages."""
    kwargs = dict(kwargs)
    cfg = resolve_pretrained_cfg(variant, pretrained_cfg=kwargs.get("pretrained_cfg"),
                                 pretrained_cfg_overlay=kwargs.get("pretrained_cfg_overlay"))
    if cfg.state_dict is not None:
        return kwargs, "the state_dict given"
    if cfg.source == "local-dir":  # timm has read the folder's config.json already
        return kwargs, str(cfg.file)
    if cfg.file:
        path = Path(cfg.file).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{variant}: the pretrained weights file {path} does not exist (pretrained_cfg "
                                  "file=...); pass the path of an existing model.safetensors")
        if path.suffix == ".safetensors":
            try:
                with safe_open(str(path), framework="pt") as f:
                    f.keys()
            except Exception as e:  # safetensors raises its own types for every kind of damage
                raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: "
                                      f"{first_line(e, 120)}); pass a model.safetensors as save_pretrained or "
                                      "`darts-zoo train` writes it") from None
        return kwargs, str(path)
    if not cfg.hf_hub_id:
        return kwargs, cfg.url or "no weights source"
    repo, _, revision = cfg.hf_hub_id.partition("@")
    filename = cfg.hf_hub_filename or HUB_WEIGHTS
    path = _hub_file(variant, repo, filename, revision or None)
    kwargs["pretrained_cfg_overlay"] = {**dict(kwargs.get("pretrained_cfg_overlay") or {}),
                                        "file": str(path), "source": ""}
    return kwargs, f"{repo} ({filename})"


def pretrained_error(variant: str, source: str, e: BaseException) -> ZooError:
    """The one line for weights that were found but could not be loaded into `variant`."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if (isinstance(e, RuntimeError) and lines and lines[0].startswith("Error(s) in loading state_dict")) \
            or isinstance(e, KeyError):
        detail = lines[1] if len(lines) > 1 else first_line(e, 160)
        keys = re.match(r'(Missing|Unexpected) key\(s\) in state_dict: "([^"]+)"', detail)
        if keys:
            count = detail.count('", "') + 1
            detail = f"{count} {keys[1].lower()} keys, e.g. {keys[2]}"
        detail = detail.split(": copying a param")[0][:160]
        return CheckpointError(f"{variant}: the pretrained weights {source} are for another network ({detail}); "
                               "build the architecture and options they were trained with (layers, channels, "
                               "num_classes), or use weights made for this one")
    return CheckpointError(f"{variant}: the pretrained weights {source} could not be loaded ({type(e).__name__}: "
                           f"{first_line(e, 160)}); pass a model.safetensors written by save_pretrained or "
                           "`darts-zoo train`")

