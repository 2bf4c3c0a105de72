"""Weights files and run checkpoints, one format for searches and trainings.

Weights: a safetensors file whose header may carry JSON metadata (the network's build arguments).

A run's checkpoint folder holds the latest checkpoint only:
    <stem>.safetensors   tensors: model weights, architecture parameters, BN buffers
    <stem>.state.pt      optimizer, scheduler, RNG and loop state: plain tensors and numbers only,
                         read back with torch.load(weights_only=True), so no code can run from it
    latest.json          which pair is current, their SHA-256, the run's kind and position
Every file is written atomically (zoo.atomic), `latest.json` last; only then are older files
deleted. Whenever a run dies, `latest.json` names a complete, verified pair. Names in
`latest.json` are data from disk and must stay plain names inside the folder (zoo.paths).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from .atomic import atomic_write_bytes, atomic_write_json
from .errors import CheckpointError
from .paths import child_path
from .runtime import first_line

FORMAT = 2
LATEST = "latest.json"
META_KEY = "darts_zoo"
AUX_PREFIX = "auxiliary_head."
_OWN_SUFFIXES = (".safetensors", ".state.pt", ".tmp")


# --------------------------------------------------------------------------- weights files
def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], meta: Optional[dict[str, Any]] = None) -> Path:
    """A safetensors file; `meta` (JSON-able: the network's build arguments) goes into its header."""
    # safetensors refuses tensors that share memory; a checkpoint holds independent copies.
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    metadata = {META_KEY: json.dumps(meta)} if meta is not None else None
    return atomic_write_bytes(Path(path), safetensors_bytes(plain, metadata=metadata))


def read_weights(path: str | Path, fix: str = "pass the model.safetensors of a finished run, or retrain"
                 ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata written by save_weights or {})."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; {fix}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for every kind of damage
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: "
                              f"{first_line(e, 160)}); {fix}") from None
    try:
        meta = json.loads(raw[META_KEY]) if META_KEY in raw else {}
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: damaged {META_KEY} metadata in the safetensors header; {fix}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the {META_KEY} metadata in its header is not a mapping; {fix}")
    return tensors, meta


def load_into(model: nn.Module, tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load weights strictly, except that a network built with or without the auxiliary head
    (a training-only branch) accepts weights from the other kind."""
    own = model.state_dict()
    if not any(k.startswith(AUX_PREFIX) for k in own):
        tensors = {k: v for k, v in tensors.items() if not k.startswith(AUX_PREFIX)}
    missing = [k for k in own if k not in tensors and not k.startswith(AUX_PREFIX)]
    unexpected = [k for k in tensors if k not in own]
    shapes = [k for k in own if k in tensors and tuple(tensors[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        detail = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else
                  f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else
                  f"shape of {shapes[0]} is {tuple(tensors[shapes[0]].shape)}, the network has "
                  f"{tuple(own[shapes[0]].shape)}")
        raise CheckpointError(f"{where}: weights are for a different network ({detail}); pass the model and "
                              "options it was trained with (layers, channels, dataset)")
    model.load_state_dict(tensors, strict=False)


# --------------------------------------------------------------------------- run checkpoints
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Checkpoint:
    """A loaded checkpoint: `tensors` for the model, `state` for optimizers/RNG, `meta` from
    latest.json (the caller's position and settings)."""

    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


class CheckpointStore:
    """The latest checkpoint of one run, in `folder`. `kind` ("search", "training") is recorded
    and checked, so a training run never resumes from a search's folder or the other way round."""

    def __init__(self, folder: str | Path, kind: str):
        self.folder = Path(folder)
        self.kind = kind
        self.latest = self.folder / LATEST
        self.fix = f"delete {self.folder} to start over"

    def exists(self) -> bool:
        return self.latest.is_file()

    def save(self, stem: str, tensors: dict[str, torch.Tensor], state: dict[str, Any],
             meta: dict[str, Any], tensor_metadata: Optional[dict[str, Any]] = None) -> None:
        """Write `<stem>.safetensors` and `<stem>.state.pt`, then point latest.json at them, then
        delete every other checkpoint file of the folder."""
        names = {"tensors": f"{stem}.safetensors", "state": f"{stem}.state.pt"}
        paths = {role: child_path(self.folder, name, f"checkpoint {stem!r}", CheckpointError)
                 for role, name in names.items()}
        save_weights(paths["tensors"], tensors, tensor_metadata)
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(paths["state"], buf.getvalue())
        atomic_write_json(self.latest, {
            **meta, "format": FORMAT, "kind": self.kind, "files": names,
            "sha256": {role: _sha256(p) for role, p in paths.items()}})
        keep = set(names.values())
        for old in self.folder.iterdir():
            if old.name not in keep and old.name.endswith(_OWN_SUFFIXES) and not old.is_symlink():
                old.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove this store's files (for --restart / --overwrite); other files are left alone."""
        if not self.folder.is_dir():
            return
        for f in self.folder.iterdir():
            if f.name == LATEST or f.name.endswith(_OWN_SUFFIXES):
                f.unlink(missing_ok=True)

    def _bad(self, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.latest}: {problem} ({self.fix})")

    def read_meta(self) -> dict[str, Any]:
        if not self.exists():
            raise CheckpointError(f"{self.folder}: no checkpoint to resume from; run without --resume first")
        try:
            meta = json.loads(self.latest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise self._bad(f"is not valid JSON ({type(e).__name__})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise self._bad(f"is not a darts-zoo checkpoint of format {FORMAT}")
        if meta.get("kind") != self.kind:
            raise self._bad(f"is a {meta.get('kind')} checkpoint, not a {self.kind} checkpoint")
        if not isinstance(meta.get("files"), dict) or not isinstance(meta.get("sha256"), dict):
            raise self._bad("holds `files` or `sha256` that is not a mapping")
        return meta

    def load(self) -> Checkpoint:
        meta = self.read_meta()
        files = {}
        for role in ("tensors", "state"):
            path = child_path(self.folder, meta["files"].get(role), f"{self.latest}: files.{role}",
                              CheckpointError, self.fix)
            if not path.is_file():
                raise self._bad(f"names {path.name!r}, which is missing")
            if _sha256(path) != meta["sha256"].get(role):
                raise CheckpointError(f"{path}: checksum does not match {LATEST}; the file is corrupt or was "
                                      f"changed ({self.fix})")
            files[role] = path
        tensors, _ = read_weights(files["tensors"], self.fix)
        try:
            state = torch.load(files["state"], map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for a damaged or unsafe pickle
            raise CheckpointError(f"{files['state']}: unreadable state file ({first_line(e, 160)}; "
                                  f"{self.fix})") from None
        if not isinstance(state, dict):
            raise self._bad("the state file does not hold a mapping")
        return Checkpoint(meta=meta, tensors=tensors, state=state)


def settings_mismatch(saved: Any, current: Any, path: str = "") -> Optional[str]:
    """The first setting that differs between a checkpoint and the run resuming it, as text
    (nested settings by dotted name, e.g. `recipe.epochs: checkpoint has 2, this run 3`)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in saved or key not in current:
                return f"{sub}: checkpoint has {saved.get(key)!r}, this run {current.get(key)!r}"
            diff = settings_mismatch(saved[key], current[key], sub)
            if diff:
                return diff
        return None
    if saved != current:
        return f"{path}: checkpoint has {saved!r}, this run {current!r}"
    return None
