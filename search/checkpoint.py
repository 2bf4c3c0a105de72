"""Search checkpoints: one per epoch, written so that an interrupted write never replaces a good one.

A checkpoint is three files in the run's checkpoint folder:
    s{stage}-e{epoch}.safetensors   supernet weights, architecture parameters and BN buffers
    s{stage}-e{epoch}.pt            optimizer, scheduler and RNG states: plain tensors and numbers
                                    only, read back with torch.load(weights_only=True)
    latest.json                     which pair is current, their SHA-256, the run's settings, the
                                    position (stage, epoch), the pruned candidates and the history
The tensor files are written first (each atomically), `latest.json` last (atomically), then older
pairs are deleted. Whatever moment a run dies at, `latest.json` names a complete, verified pair.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write_json
from ..errors import CheckpointError
from ..paths import child_path

FORMAT = 1
LATEST = "latest.json"


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- RNG state
def rng_state() -> dict[str, Any]:
    """Every RNG the search may draw from, as tensors and plain numbers."""
    import numpy as np

    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python_mt": torch.tensor(mt, dtype=torch.int64),
        "python_version": version,
        "python_gauss": gauss,
        "numpy_keys": torch.from_numpy(np_keys.astype("int64")),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(int(v) for v in state["python_mt"].tolist()),
                     state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype("uint32"),
                         state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """A loaded checkpoint: `tensors` for the supernet, `state` for optimizers/RNG, `meta` from JSON."""

    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]

    @property
    def stage(self) -> int:
        return int(self.meta["stage"])

    @property
    def epoch(self) -> int:
        return int(self.meta["epoch"])


class CheckpointStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def latest(self) -> Path:
        return self.folder / LATEST

    def exists(self) -> bool:
        return self.latest.exists()

    def save(self, tensors: dict[str, torch.Tensor], state: dict[str, Any], meta: dict[str, Any]) -> None:
        stage, epoch = int(meta["stage"]), int(meta["epoch"])
        stem = f"s{stage}-e{epoch:04d}"
        model_path = self.folder / f"{stem}.safetensors"
        state_path = self.folder / f"{stem}.pt"
        self.folder.mkdir(parents=True, exist_ok=True)
        # safetensors refuses tensors that share memory; checkpoints hold independent copies.
        plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        tmp = model_path.with_name(model_path.name + ".tmp")
        save_file(plain, str(tmp), metadata={"format": "darts-zoo search checkpoint"})
        _fsync(tmp)  # on disk before latest.json may point at it
        os.replace(tmp, model_path)
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save(state, tmp)
        _fsync(tmp)
        os.replace(tmp, state_path)
        meta = dict(meta, format=FORMAT,
                    files={"model": model_path.name, "state": state_path.name},
                    sha256={"model": _sha256(model_path), "state": _sha256(state_path)})
        atomic_write_json(self.latest, meta)
        keep = {model_path.name, state_path.name, LATEST}
        for old in self.folder.iterdir():
            if old.name not in keep and (old.suffix in (".safetensors", ".pt") or old.name.endswith(".tmp")):
                old.unlink(missing_ok=True)

    def load(self) -> Checkpoint:
        where = str(self.latest)
        fix = "delete the folder and start again without --resume"

        def bad(problem: str) -> CheckpointError:
            return CheckpointError(f"{where}: {problem} ({fix})")

        if not self.latest.exists():
            raise CheckpointError(f"{where}: no checkpoint to resume from (run without --resume first)")
        try:
            meta = json.loads(self.latest.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise bad(f"is not valid JSON ({type(e).__name__})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise bad(f"is not a darts-zoo search checkpoint of format {FORMAT}")
        for key in ("stage", "epoch", "files", "sha256", "settings"):
            if key not in meta:
                raise bad(f"misses the field {key!r}")
        if not isinstance(meta["files"], dict) or not isinstance(meta["sha256"], dict):
            raise bad("holds `files` or `sha256` that is not a mapping")
        files = {}
        for role in ("model", "state"):
            path = child_path(self.folder, meta["files"].get(role), f"{where}: files.{role}", CheckpointError, fix)
            if not path.is_file():
                raise bad(f"names {path.name!r}, which is missing")
            if _sha256(path) != meta["sha256"].get(role):
                raise CheckpointError(f"{path}: checksum does not match {LATEST}; the file is "
                                      f"corrupt or was changed ({fix})")
            files[role] = path
        try:
            tensors = load_file(str(files["model"]))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{files['model']}: unreadable safetensors file "
                                  f"({str(e).splitlines()[0] if str(e) else type(e).__name__}; {fix})") from None
        try:
            state = torch.load(files["state"], map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for a damaged or unsafe pickle
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{files['state']}: unreadable state file ({first[:160]}; {fix})") from None
        if not isinstance(state, dict):
            raise bad("the state file does not hold a mapping")
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
