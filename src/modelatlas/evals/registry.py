"""The benchmark registry.

A benchmark module registers a factory::

    @register
    def gsm8k() -> Benchmark:
        return Benchmark(key="gsm8k", ...)

Every module of :mod:`modelatlas.evals.benchmarks` is imported on first lookup, so adding a
benchmark is adding a file there; no central list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable

from modelatlas.errors import MissingDependencyError, NotFoundError
from modelatlas.evals.core import Benchmark

BenchmarkFactory = Callable[[], Benchmark]

_registry: dict[str, Benchmark] = {}
_aliases: dict[str, str] = {}
_discovered = False
_import_errors: dict[str, str] = {}
_lock = threading.RLock()


def register(factory: BenchmarkFactory) -> BenchmarkFactory:
    """Register the benchmark a factory builds (called once, at import).

    A second benchmark with the same key or alias is a programming error (``ValueError``).
    """
    benchmark = factory()
    with _lock:
        existing = _registry.get(benchmark.key)
        if existing is not None and _module_of(existing) == _module_of(benchmark):
            _forget(existing)  # the same module imported again (reload): replace it
        taken = {benchmark.key, *benchmark.aliases} & (_registry.keys() | _aliases.keys())
        if taken:
            raise ValueError(f"benchmark key or alias already registered: {sorted(taken)}")
        _registry[benchmark.key] = benchmark
        for alias in benchmark.aliases:
            _aliases[alias] = benchmark.key
    return factory


def _module_of(benchmark: Benchmark) -> str:
    return str(getattr(benchmark.score, "__module__", ""))


def _forget(benchmark: Benchmark) -> None:
    _registry.pop(benchmark.key, None)
    for alias in benchmark.aliases:
        _aliases.pop(alias, None)


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        from modelatlas.evals import benchmarks

        for module in pkgutil.iter_modules(benchmarks.__path__):
            if module.name.startswith("_"):
                continue
            try:
                importlib.import_module(f"{benchmarks.__name__}.{module.name}")
            except (ImportError, MissingDependencyError) as exc:
                # An optional dependency of one benchmark must not hide the others.
                _import_errors[module.name] = str(exc)
        _discovered = True


def import_errors() -> dict[str, str]:
    """Benchmark modules that could not be imported (module name -> error), e.g. for a
    missing optional dependency."""
    _discover()
    return dict(_import_errors)


def get_benchmark(name: str) -> Benchmark:
    """The benchmark with this key (or alias, e.g. the AA API's ``gpqa``).

    Unknown names raise :class:`NotFoundError` with did-you-mean suggestions.
    """
    _discover()
    normalized = name.strip().lower().replace("-", "_")
    key = _aliases.get(normalized, normalized)
    try:
        return _registry[key]
    except KeyError:
        error = NotFoundError("benchmark", name, sorted(_registry))
        if _import_errors:
            failed = "; ".join(f"{module}: {msg}" for module, msg in sorted(_import_errors.items()))
            note = f"Benchmark modules that failed to import: {failed}"
            error.hint = f"{error.hint}\n{note}" if error.hint else note
        raise error from None


def list_benchmarks() -> list[Benchmark]:
    """All registered benchmarks, by category then key."""
    _discover()
    return sorted(_registry.values(), key=lambda b: (str(b.category), b.key))
