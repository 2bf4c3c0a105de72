"""Weights (safetensors, with the network's build arguments in the metadata) and training state
(plain state dicts through torch.save, read back with weights_only=True), written atomically.

A run directory keeps one checkpoint, `checkpoints/epoch_NNNN.{safetensors,state.pt}`, and
`checkpoints/latest.json` names it; the pointer is replaced only after both files are complete,
so an interrupted write leaves the previous checkpoint usable.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn

from zoo.errors import CheckpointError
from zoo.atomic import atomic_write_bytes, atomic_write_json
from zoo.paths import child_path

META_KEY = "darts_zoo"
AUX_PREFIX = "auxiliary_head."


def save_weights(path: Path, tensors: dict[str, torch.Tensor], meta: Optional[dict[str, Any]] = None) -> None:
    """A safetensors file; `meta` (JSON-able: the network's build arguments) goes into its header."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {META_KEY: json.dumps(meta)} if meta is not None else None
    atomic_write_bytes(Path(path), save(tensors, metadata=metadata))


def _fix() -> str:
    return "pass the model.safetensors of a finished run, or retrain"


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata written by save_weights or {})."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; {_fix()}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for every kind of damage
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else 'corrupt'}); {_fix()}") from None
    try:
        meta = json.loads(raw[META_KEY]) if META_KEY in raw else {}
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: damaged {META_KEY} metadata in the safetensors header; {_fix()}") from None
    return tensors, meta


def load_into(model: nn.Module, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Load weights strictly, except that a network built with or without the auxiliary head
    (a training-only branch) accepts weights from the other kind."""
    own = model.state_dict()
    has_aux = any(k.startswith(AUX_PREFIX) for k in own)
    if not has_aux:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(AUX_PREFIX)}
    missing = [k for k in own if k not in tensors and not (k.startswith(AUX_PREFIX))]
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


def save_state(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_state(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: training state missing; delete the checkpoints folder to start over") from None
    except Exception as e:  # pickle, zip and weights_only refusals
        raise CheckpointError(f"{path}: unreadable training state ({type(e).__name__}); delete the checkpoints "
                              "folder to start over") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"{path}: not a darts-zoo training state; delete the checkpoints folder to start over")
    return state


class RunCheckpoint:
    """The latest checkpoint of a run directory."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "checkpoints"
        self.pointer = self.dir / "latest.json"

    def exists(self) -> bool:
        return self.pointer.is_file()

    def save(self, epoch: int, tensors: dict[str, torch.Tensor], state: dict[str, Any],
             meta: Optional[dict[str, Any]] = None) -> None:
        stem = f"epoch_{epoch:04d}"
        save_weights(self.dir / f"{stem}.safetensors", tensors, meta)
        save_state(self.dir / f"{stem}.state.pt", {**state, "epoch": epoch})
        previous = self._read_pointer() if self.exists() else None
        atomic_write_json(self.pointer, {"epoch": epoch, "weights": f"{stem}.safetensors", "state": f"{stem}.state.pt"})
        if previous and previous["weights"] != f"{stem}.safetensors":
            for key in ("weights", "state"):
                self._file(previous, key).unlink(missing_ok=True)

    def _read_pointer(self) -> dict[str, Any]:
        try:
            pointer = json.loads(self.pointer.read_text())
            int(pointer["epoch"]), str(pointer["weights"]), str(pointer["state"])
        except (OSError, ValueError, KeyError, TypeError):
            raise CheckpointError(f"{self.pointer}: damaged checkpoint pointer; delete {self.dir} to start over") from None
        for key in ("weights", "state"):
            self._file(pointer, key)
        return pointer

    def _file(self, pointer: dict[str, Any], key: str) -> Path:
        # The pointer is data from disk: a copied or crafted run folder must not make resume read,
        # or the rotation delete, a file outside this checkpoints folder.
        return child_path(self.dir, pointer[key], f"{self.pointer}: {key}", CheckpointError,
                          f"delete {self.dir} to start over")

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(weights, state) of the latest checkpoint."""
        if not self.exists():
            raise CheckpointError(f"{self.dir.parent}: no checkpoint to resume; drop --resume to start a new run")
        pointer = self._read_pointer()
        tensors, _ = read_weights(self._file(pointer, "weights"))
        state = load_state(self._file(pointer, "state"))
        if state["epoch"] != pointer["epoch"]:
            raise CheckpointError(f"{self.dir}: weights and state are from different epochs; delete {self.dir} "
                                  "to start over")
        return tensors, state
