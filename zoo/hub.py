"""Weights to and from the Hugging Face Hub, in timm's format (model.safetensors + config.json)
plus a model card (zoo.model_card), genotype.yaml and the cell drawings, so that `timm.create_model("hf-hub:ORG/REPO", pretrained=True)` (after
`import zoo`) rebuilds the exact network, searched genotypes included: a genotype that is not a
zoo model travels inside config.json and is compiled by the generic `darts_genotype` entry point.

Pretrained weights (`pretrained=True`) are found before timm builds the network
(`pretrained_source`): a local `file`, the Hugging Face cache, or a download when the Hub answers a
2-second probe. HF_HUB_OFFLINE is honoured, huggingface_hub's retry lines are silenced, and every
way of not finding them (offline, no network, no such repo or file, a missing local file) is its
own one-line error naming what was tried, within seconds. Which zoo tags have published weights,
and the organisation looked in, are zoo.pretrained's. Uploads (`upload_folder`) fail as one line
each too: offline, no token, no network, a repo the token may not write to, an HTTP error.
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
from typing import Any, Iterator, Mapping, Optional, Sequence

from huggingface_hub import HfApi, constants as hf_constants, get_token, hf_hub_download, try_to_load_from_cache
from huggingface_hub.utils import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                   LocalTokenNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)
from safetensors import safe_open
from timm.models import resolve_pretrained_cfg, save_for_hf

from .atomic import output_errors
from .data import DATASETS, dataset_info
from .draw import draw_genotype
from .errors import CheckpointError, HubError, ZooError
from .genotype import dump_genotype, genotype_to_dict
from .model_card import model_card
from .models import ZOO_NAMES, zoo_genotype
from .pretrained import DEFAULT_HUB_ORG, HUB_WEIGHTS, check_repo_id, hub_org_is_set, weights_location
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


def save_pretrained(model: DartsNetwork, directory: str | Path,
                    metrics: Optional[Mapping[str, Any]] = None, *,
                    evaluations: Optional[Sequence[Mapping[str, Any]]] = None, repo_id: Optional[str] = None,
                    drawings: bool = True, curves: Optional[str | Path] = None) -> Path:
    """Write model.safetensors, config.json, README.md (the model card), genotype.yaml and the
    cell drawings (cells/*.png) to `directory`, all or nothing: they are written to a staging
    folder beside it and moved in at the end. `curves`: a training run's curves.png, copied in
    and shown on the card."""

    directory = Path(directory)
    architecture, args = _architecture(model)
    with output_errors(directory):  # a full disk or a read-only folder: one line
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent if directory.parent.exists() else None))
    try:
        with output_errors(directory):
            # timm checks every argument the network was built with can be written as JSON (a Genotype
            # object cannot); config.json's model_args are replaced by `args` just below.
            stand_ins = {k: None for k in getattr(model, "_model_args", {}) if k not in args}
            save_for_hf(model, str(staging), model_config={"architecture": architecture},
                        model_args={**stand_ins, **args}, safe_serialization=True)
            config = json.loads((staging / "config.json").read_text())
            config["architecture"] = architecture
            config["model_args"] = args
            data = (metrics or {}).get("data")
            if isinstance(data, str) and data in DATASETS:  # timm's data config: the training data's normalization
                info = dataset_info(data)
                config.setdefault("pretrained_cfg", {}).update(mean=list(info.mean), std=list(info.std))
            (staging / "config.json").write_text(json.dumps(config, indent=2, default=list))
            (staging / "genotype.yaml").write_text(dump_genotype(model.genotype))
            images: list[str] = []
            if drawings:
                for path in draw_genotype(model.genotype, staging / "cells", formats=("png",)):
                    images.append(path.relative_to(staging).as_posix())
            if curves is not None:
                shutil.copyfile(curves, staging / "curves.png")
            (staging / "README.md").write_text(model_card(model, architecture, metrics, evaluations=evaluations,
                                                          repo_id=repo_id, drawings=images,
                                                          curves="curves.png" if curves is not None else None))
            directory.mkdir(parents=True, exist_ok=True)
            for item in staging.iterdir():
                target = directory / item.name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)  # the drawings of an earlier save
                os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def hub_token(token: Optional[str]) -> str:
    """The token given, or huggingface_hub's from the usual places (HF_TOKEN, the stored login)."""
    token = token or get_token()
    if not token:
        raise HubError("no Hugging Face token: run `huggingface-cli login` (or set HF_TOKEN) with a token that may "
                       "write to the repo, then retry")
    return token


def check_upload(repo_id: str, token: Optional[str] = None) -> str:
    """Before an upload (and before the work that prepares it): the repo id, offline mode, the token
    and the network, each one line at once instead of huggingface_hub's retries. Returns the token."""
    check_repo_id(repo_id)
    if hub_offline():
        raise HubError(f"could not upload to the Hub repo {repo_id!r}: HF_HUB_OFFLINE is set; unset it and connect "
                       "to the network, or write the folder only with --dry-run")
    token = hub_token(token)
    why = hub_unreachable()
    if why is not None:
        raise HubError(f"could not upload to the Hub repo {repo_id!r}: {why}; connect to the network (and unset "
                       "HF_HUB_OFFLINE), then retry")
    return token


def upload_folder(folder: str | Path, repo_id: str, *, private: bool = False, revision: Optional[str] = None,
                  token: Optional[str] = None, commit_message: str = "Upload darts-zoo model") -> str:
    """Create the model repo (when it does not exist) and upload `folder` to it, on `revision` (a
    branch, created from main when missing); returns the commit's URL. Every way of failing is one line."""
    token = check_upload(repo_id, token)
    where = f"hf.co/{repo_id}" + (f"@{revision}" if revision else "")
    api = HfApi(token=token)
    try:
        with _quiet_hub_logs():
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            if revision:
                api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                     revision=revision, commit_message=commit_message)
    except LocalTokenNotFoundError:
        raise HubError(f"could not upload to {where}: no Hugging Face token; run `huggingface-cli login` (or set "
                       "HF_TOKEN), then retry") from None
    except RepositoryNotFoundError:
        raise HubError(f"could not upload to {where}: the Hub has no model repo {repo_id} that this token may write "
                       f"to; check the name (USER/NAME, with your user or an organisation you belong to) and the "
                       "token's write access") from None
    except RevisionNotFoundError:
        raise HubError(f"could not upload to {where}: the repo has no branch {revision!r} and it could not be "
                       "created; check --revision") from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        hint = {401: "the token is not valid; `huggingface-cli login` again",
                403: "the token may not write to this repo; use a write token of its owner",
                409: "the repo is being changed by another upload; retry"}.get(status, "check the network and retry")
        raise HubError(f"could not upload to {where}: the Hub answered {status or 'an error'} "
                       f"({first_line(e, 120)}); {hint}") from None
    except OSError as e:  # the connection dropped during the upload
        raise HubError(f"could not upload to {where} ({type(e).__name__}: {first_line(e, 120)}); check the "
                       "network and retry") from None
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")


def push_to_hub(model: DartsNetwork, repo_id: str, metrics: Optional[Mapping[str, Any]] = None,
                private: bool = False, token: Optional[str] = None, revision: Optional[str] = None,
                evaluations: Optional[Sequence[Mapping[str, Any]]] = None) -> str:
    """Upload weights, config, model card and drawings to a Hub model repo; returns the commit URL."""

    token = check_upload(repo_id, token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "export", metrics, evaluations=evaluations, repo_id=repo_id)
        return upload_folder(folder, repo_id, private=private, revision=revision, token=token)


# --------------------------------------------------------------------------- pretrained weights
HUB_PROBE_TIMEOUT_S = 2.0
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
        overlay = dict(kwargs.get("pretrained_cfg_overlay") or {})
        if "num_classes" not in overlay and kwargs.get("num_classes") is not None:
            # A file of one's own is for the network asked for: timm would otherwise drop its classifier
            # silently when num_classes differs from the registered tag's (10 or 1000); a real mismatch
            # then fails the strict load as one line.
            kwargs["pretrained_cfg_overlay"] = {**overlay, "num_classes": kwargs["num_classes"]}
        return kwargs, str(path)
    asked = "hf_hub_id" in (kwargs.get("pretrained_cfg_overlay") or {}) or cfg.source == "hf-hub"
    if cfg.hf_hub_id and (asked or not hub_org_is_set()):  # hf-hub:REPO, an overlay's repo, or a published tag
        repo, _, rev = cfg.hf_hub_id.partition("@")
        filename, revision = cfg.hf_hub_filename or HUB_WEIGHTS, rev or None
    elif cfg.url:
        return kwargs, cfg.url
    else:
        base = variant[: -len("_imagenet")] if variant.endswith("_imagenet") else variant
        where = weights_location(variant, cfg.tag or _family_tag(variant)) if base in ZOO_NAMES else None
        if where is None:
            raise not_published(variant)
        repo, filename, revision = where.repo, where.file, where.revision
    path = _hub_file(variant, repo, filename, revision)
    kwargs["pretrained_cfg_overlay"] = {**dict(kwargs.get("pretrained_cfg_overlay") or {}),
                                        "file": str(path), "source": ""}
    return kwargs, f"{repo} ({filename})"


def _family_tag(variant: str) -> str:
    return "in1k" if variant.endswith("_imagenet") else "cifar10"


def not_published(variant: str) -> HubError:
    """The one line for `pretrained=True` where no weights are published: what was looked for, and
    the two ways to make them."""
    base = variant[: -len("_imagenet")] if variant.endswith("_imagenet") else variant
    if base not in ZOO_NAMES:  # darts_genotype: a genotype has no weights of its own
        return HubError(f"{variant}: a genotype file has no published weights; load a folder that push or "
                        "save_pretrained wrote with hf-hub:USER/REPO or local-dir:DIR, or "
                        f"{LOCAL_WEIGHTS_HINT}")
    data = "imagenet" if variant.endswith("_imagenet") else "cifar10"
    repo = f"{DEFAULT_HUB_ORG}/{variant}"
    return HubError(
        f"{variant}: no pretrained weights are published for {variant}.{_family_tag(variant)} (looked for {repo} "
        f"({HUB_WEIGHTS}) in darts-zoo's list of published weights, zoo/pretrained.yaml); make them with "
        f"`darts-zoo reproduce {base} --data {data} --push USER/{variant}` (or `darts-zoo train {base} --data "
        f"{data} --out RUN` then `darts-zoo push RUN --repo-id USER/{variant}`) and load them with "
        f"DARTS_ZOO_HUB_ORG=USER, or {LOCAL_WEIGHTS_HINT}")


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

