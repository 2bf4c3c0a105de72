"""Which zoo weights are published on the Hugging Face Hub, and where `pretrained=True` looks.

The published weights are data, `zoo/pretrained.yaml` (one entry per timm tag): timm lists a zoo
tag as pretrained only when it is there. The Hub organisation is one setting, for those who publish
their own weights: the environment variable DARTS_ZOO_HUB_ORG or `set_hub_org()`. Once it is set,
every zoo model is looked up as ORG/MODEL; unset, only the listed tags are fetched and any other
`pretrained=True` is one line saying which repo and file are missing and how to make them.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from .errors import ZooError

HUB_ORG_ENV = "DARTS_ZOO_HUB_ORG"
DEFAULT_HUB_ORG = "darts-zoo"
HUB_WEIGHTS = "model.safetensors"
PUBLISHED_FILE = Path(__file__).resolve().parent / "pretrained.yaml"
# A Hub namespace (user or organisation): letters, digits, '-', '_', '.', not starting with a symbol.
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")

_org: Optional[str] = None  # set_hub_org's value; the environment variable is read at each lookup


@dataclass(frozen=True)
class Published:
    """One published tag: where its weights are and what they measured."""

    tag: str
    repo: str
    file: str = HUB_WEIGHTS
    revision: Optional[str] = None
    results: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hf_hub_id(self) -> str:
        return f"{self.repo}@{self.revision}" if self.revision else self.repo


def check_repo_id(repo_id: str, what: str = "--repo-id") -> str:
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise ZooError(f"{what}: {str(repo_id)[:100]!r} is not a Hub repo id; write USER/NAME (letters, digits, "
                       "'-', '_', '.'), e.g. you/pdarts_3b-cifar10")
    return repo_id


def _check_org(org: str, where: str) -> str:
    if not _NAMESPACE.fullmatch(org) or ".." in org:
        raise ZooError(f"{where}: {org[:100]!r} is not a Hub user or organisation name; use letters, digits, '-', "
                       "'_' or '.', e.g. DARTS_ZOO_HUB_ORG=you")
    return org


def set_hub_org(org: Optional[str]) -> None:
    """Look up every zoo model's weights as ORG/MODEL from now on (None: back to the environment
    variable, or to the published list only)."""
    global _org
    _org = None if org is None else _check_org(str(org), "set_hub_org")


def hub_org_is_set() -> bool:
    """Whether the user named an organisation (set_hub_org or DARTS_ZOO_HUB_ORG)."""
    return _org is not None or bool(os.environ.get(HUB_ORG_ENV, "").strip())


def hub_org() -> str:
    """The organisation pretrained weights are looked up in: set_hub_org's, else DARTS_ZOO_HUB_ORG,
    else darts-zoo (where the project publishes)."""
    if _org is not None:
        return _org
    env = os.environ.get(HUB_ORG_ENV, "").strip()
    return _check_org(env, HUB_ORG_ENV) if env else DEFAULT_HUB_ORG


@functools.lru_cache(maxsize=None)
def published_weights(path: Path = PUBLISHED_FILE) -> dict[str, Published]:
    """The published tags, `MODEL.TAG` -> Published, from the package's list."""
    fix = "reinstall darts-zoo, or fix the file as its header comment shows"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ZooError(f"{path}: the list of published weights cannot be read ({type(e).__name__}); {fix}") from None
    entries = (data or {}).get("published") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ZooError(f"{path}: needs a `published:` mapping of MODEL.TAG: {{repo: ..., file: ...}}; {fix}")
    out = {}
    for tag, entry in entries.items():
        if not isinstance(tag, str) or "." not in tag or not isinstance(entry, dict) or "repo" not in entry:
            raise ZooError(f"{path}: published.{tag}: needs a MODEL.TAG key and a `repo:`; {fix}")
        check_repo_id(entry["repo"], f"{path}: published.{tag}.repo")
        results = {k: v for k, v in entry.items() if k not in ("repo", "file", "revision")}
        out[tag] = Published(tag, entry["repo"], str(entry.get("file") or HUB_WEIGHTS),
                             str(entry["revision"]) if entry.get("revision") else None, results)
    return out


def weights_location(model_name: str, tag: str) -> Optional[Published]:
    """Where `model_name.tag`'s weights are: ORG/MODEL when the user named an organisation, the
    published entry otherwise, None when nothing is published for it."""
    entry = published_weights().get(f"{model_name}.{tag}")
    if hub_org_is_set():
        name = entry.repo.split("/", 1)[1] if entry else model_name
        return Published(f"{model_name}.{tag}", f"{hub_org()}/{name}", entry.file if entry else HUB_WEIGHTS)
    return entry


def expected_repo(model_name: str) -> str:
    """The repo the project would publish `model_name` in (for messages)."""
    return f"{hub_org()}/{model_name}"
