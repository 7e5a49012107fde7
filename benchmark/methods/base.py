"""What a benchmark entry is: a folder with ``method.yaml`` naming a small class or a program.

``method.yaml``::

    name: my_method                     # [A-Za-z0-9_.-]+
    description: one line
    code_url: https://...
    framework: pytorch | sklearn | jax | ...
    protocols: [robustness, linear_probe]   # the protocols it can be run under
    families: [ndlar, sfgd, jets]           # optional, default: all
    entry: method.py:MyMethod               # a class: file in this folder, or a module path
    # or, for any language:
    # command: ["python", "run.py", "{phase}", "--data", "{data}", "--out", "{out}", "--state", "{state}"]
    config: {...}                           # handed to the class; values may be {default: x, full: y}

The class implements :class:`Method` (``fit`` / ``predict``, optionally ``embed``), in the spirit of
DomainBed's ``Algorithm``: the benchmark owns data access, model selection rules and scoring.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.methods.interface import Method, MethodConfigError, RunContext  # noqa: F401 (re-exported)
from benchmark.tasks import PROTOCOLS

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class MethodSpec:
    """A parsed method folder."""

    folder: Path
    name: str
    description: str
    code_url: str
    framework: str
    protocols: list[str]
    families: list[str] | None
    entry: str | None
    command: list[str] | None
    config: dict[str, Any] = field(default_factory=dict)

    def resolved_config(self, size: str) -> dict[str, Any]:
        """``{key: {default: a, full: b}}`` -> ``{key: a}`` at ``size`` (plain values pass through)."""
        from benchmark.training.hparams import resolve_sized

        return {k: resolve_sized(v, size) for k, v in self.config.items()}

    def instantiate(self, context: RunContext) -> Method:
        """The method object for one run: its config resolved at ``context.model_size``."""
        config = self.resolved_config(context.model_size or context.size)
        if context.max_train_events is not None:
            config["max_train_events"] = int(context.max_train_events)
        cls = self.load_class()
        if self.command is not None:
            return cls({**config, "_folder": str(self.folder.resolve())}, context, command=self.command)
        return cls(config, context)

    def load_class(self) -> type[Method]:
        if self.entry is None:
            from benchmark.methods.external import ExternalProgramMethod

            return ExternalProgramMethod
        target, _, attr = self.entry.partition(":")
        if not attr:
            raise MethodConfigError(f"{self.folder}/method.yaml: entry must be 'file.py:Class' or 'module:Class'")
        if target.endswith(".py"):
            path = self.folder / target
            if not path.exists():
                raise MethodConfigError(f"{self.folder}/method.yaml: entry file {path} does not exist")
            mod_name = f"simshift_method_{self.name.replace('-', '_').replace('.', '_')}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        cls = getattr(module, attr, None)
        if cls is None or not (isinstance(cls, type) and issubclass(cls, Method)):
            raise MethodConfigError(f"{self.entry} is not a subclass of benchmark.methods.Method")
        return cls


def load_method_spec(folder: str | Path) -> MethodSpec:
    folder = Path(folder)
    path = folder / "method.yaml"
    if not path.exists():
        raise MethodConfigError(f"{folder} is not a method folder: it has no method.yaml "
                                f"(see README, 'Adding a method')")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise MethodConfigError(f"{path}: not valid YAML: {err}") from err
    problems = []
    name = str(raw.get("name", folder.name))
    if not NAME.match(name):
        problems.append(f"name {name!r} may only use letters, digits, '_', '.', '-'")
    protocols = raw.get("protocols") or []
    bad = [p for p in protocols if p not in PROTOCOLS]
    if not protocols or bad:
        problems.append(f"protocols must be a non-empty list of {sorted(PROTOCOLS)}, got {protocols}")
    entry, command = raw.get("entry"), raw.get("command")
    if (entry is None) == (command is None):
        problems.append("give exactly one of 'entry' (a Method class) or 'command' (a program)")
    if command is not None and not (isinstance(command, list) and all(isinstance(c, str) for c in command)):
        problems.append("'command' must be a list of strings")
    if problems:
        raise MethodConfigError(f"{path}: " + "; ".join(problems))
    return MethodSpec(folder=folder, name=name, description=str(raw.get("description", "")),
                      code_url=str(raw.get("code_url", "")), framework=str(raw.get("framework", "python")),
                      protocols=list(protocols), families=raw.get("families"), entry=entry, command=command,
                      config=dict(raw.get("config") or {}))
