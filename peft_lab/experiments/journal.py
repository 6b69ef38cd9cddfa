"""Results on disk: an append-only journal of finished runs (``NAME.partial.jsonl``), which an
interrupted sweep resumes from, and the final JSON, written atomically and diff-friendly."""
from __future__ import annotations

import json
import os
from pathlib import Path


class Journal:
    """Append-only JSON lines ``{"key", "result"}``; survives an interruption at any moment."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None

    def load(self) -> dict[str, dict]:
        if self.path is None or not self.path.exists():
            return {}
        done = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the interruption: that run is redone
                continue
            done[entry["key"]] = entry["result"]
        return done

    def append(self, key: str, result: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "result": result}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def delete(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


def to_json(obj, indent: int = 0) -> str:
    """Indented JSON whose lists of numbers (and lists of such lists) stay on one line each:
    readable in a diff, and a spectrum does not take 128 lines."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and obj and any(isinstance(v, dict) for v in obj):
        return "[\n" + ",\n".join(pad + to_json(v, indent + 1) for v in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_json(obj) + "\n", encoding="utf-8")
    os.replace(tmp, path)
