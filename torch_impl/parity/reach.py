"""What a forward reaches: the modules whose `np` it calls and the objects that hold the arrays it reads.

check_grads runs the user's forward again on other arrays (torch arrays under autograd, float64 copies for
central differences). `borrowed` walks from the forward through closures, globals, bound objects, their classes,
lists and dicts, and for the duration of a `with` block: rebinds `np` (and names imported from numpy) in every
module of the user's code it reached, puts the substitute arrays where the user's objects hold the originals,
optionally converts every other NumPy array it reached (data held by objects or closures), and afterwards restores
every namespace, object, closure cell, list and dict it reached to what it held before, even on error.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types

import numpy as np
import torch

# libraries whose own modules are never rebound or walked (their np must stay NumPy)
LIBRARIES = {"numpy", "torch", "scipy", "matplotlib", "pandas", "sklearn", "jax", "lightning", "pytest", "_pytest",
             "torch_impl", "IPython", "ipykernel", *sys.stdlib_module_names}
MAX_OBJECTS = 20_000  # a forward reaching more than this is walked no further
MAX_ITEMS = 1_000  # longer lists and dicts are data, not model state: not searched
_MISSING = object()


def _user_module(name) -> bool:
    return isinstance(name, str) and name.split(".", 1)[0] not in LIBRARIES


class _Cell:
    """A closure cell seen as a one-slot container, so it is read, written and restored like a dict entry."""

    def __init__(self, cell):
        self.cell = cell

    def items(self):
        return [(None, self.cell.cell_contents)]

    def __getitem__(self, key):
        return self.cell.cell_contents

    def __setitem__(self, key, value):
        self.cell.cell_contents = value


class Reached:
    """Every mutable place the walk met, and where each of the arrays it looks for (`targets`, by id) sits."""

    def __init__(self, roots, targets: dict[int, str], skip=()):
        self.namespaces: list[dict] = []
        self.containers: list = []  # dicts (object __dict__s and module namespaces included), lists and cells
        self.places: dict[str, list] = {name: [] for name in targets.values()}  # name -> [(container, key)]
        self.arrays: list = []  # (container, key) of every other NumPy array met
        self._targets, self._seen, self._stack = targets, {id(c) for c in skip}, list(roots)
        while self._stack and len(self._seen) < MAX_OBJECTS:
            self._visit(self._stack.pop())

    def _visit(self, obj) -> None:
        if id(obj) in self._seen or isinstance(obj, (str, bytes, int, float, complex, np.ndarray, torch.Tensor)):
            return
        if isinstance(obj, (list, dict)):
            self._container(obj)
            return
        self._seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            self._namespace(obj.__globals__)
            for cell in obj.__closure__ or ():
                if _filled(cell):
                    self._container(_Cell(cell))
            self._stack += [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
        elif isinstance(obj, types.MethodType):
            self._stack += [obj.__func__, obj.__self__]
        elif isinstance(obj, functools.partial):
            self._stack += [obj.func, *obj.args, *obj.keywords.values()]
        elif isinstance(obj, types.ModuleType):
            if _user_module(obj.__name__):
                self._namespace(vars(obj))
        elif isinstance(obj, type):
            if _user_module(obj.__module__):
                self._stack += [_function(v) for v in vars(obj).values()] + list(obj.__bases__)
        elif isinstance(obj, (tuple, set, frozenset)):
            self._stack += list(obj)[:MAX_ITEMS]
        elif _user_module(type(obj).__module__):
            self._stack.append(type(obj))
            if isinstance(getattr(obj, "__dict__", None), dict):
                self._container(obj.__dict__)

    def _namespace(self, namespace: dict) -> None:
        if id(namespace) in self._seen or not _user_module(namespace.get("__name__")):
            return
        self.namespaces.append(namespace)
        self._container(namespace, always=True)

    def _container(self, container, always: bool = False) -> None:
        if id(container) in self._seen or (not isinstance(container, _Cell) and len(container) > MAX_ITEMS
                                           and not always):
            return
        self._seen.add(id(container))
        self.containers.append(container)
        items = enumerate(container) if isinstance(container, list) else container.items()
        for key, value in list(items):
            if id(value) in self._targets:
                self.places[self._targets[id(value)]].append((container, key))
            elif type(value) is np.ndarray and value.dtype.kind in "fiub":
                self.arrays.append((container, key))
            self._stack.append(value)


def _filled(cell) -> bool:
    try:
        return cell.cell_contents is not _MISSING
    except ValueError:  # a closure variable not assigned yet
        return False


def _function(value):
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    return value


class _Snapshot:
    """Shallow copies of containers, restored in place: keys added are removed, keys rebound are put back."""

    def __init__(self, containers: list):
        self.saved = []
        for c in containers:
            saved = c.cell.cell_contents if isinstance(c, _Cell) else dict(c) if isinstance(c, dict) else list(c)
            self.saved.append((c, saved))

    def restore(self) -> None:
        for container, saved in self.saved:
            if isinstance(container, _Cell):
                if container.cell.cell_contents is not saved:
                    container.cell.cell_contents = saved
            elif isinstance(container, dict):
                for key in [k for k in container if k not in saved]:
                    del container[key]
                for key, value in saved.items():
                    if container.get(key, _MISSING) is not value:
                        container[key] = value
            elif len(container) != len(saved) or any(a is not b for a, b in zip(container, saved)):
                container[:] = saved


def _rebind(namespace: dict, numpy_like) -> None:
    """np -> numpy_like, and names imported from numpy (from numpy import exp) -> numpy_like's of the same name."""
    for key, value in list(namespace.items()):
        if value is np:
            namespace[key] = numpy_like
        elif isinstance(value, np.ufunc) or (callable(value) and getattr(value, "__module__", None) == "numpy"):
            substitute = getattr(numpy_like, getattr(value, "__name__", ""), None)
            if substitute is not None:
                namespace[key] = substitute


@contextlib.contextmanager
def borrowed(roots, originals: dict[str, object], substitutes: dict[str, object], numpy_like=None, convert=None,
             skip=()):
    """Within the block the forward reached from `roots` reads substitutes[name] wherever its objects held
    originals[name], calls numpy_like where it called np, and reads convert(a) for every other NumPy array a it
    reaches (both optional); everything is put back after. Containers in `skip` (the user's `arrays` dict) are not
    searched: an array found only there is not one the forward reads."""
    reached = Reached(roots, {id(value): name for name, value in originals.items()}, skip)
    missing = [name for name, places in reached.places.items() if not places]
    if missing:
        raise ValueError(f"forward does not take {', '.join(missing)} as arguments, and no object, closure, list or "
                         "module it reaches holds them: make them forward's parameters, or pass the very arrays your "
                         "objects hold")
    snapshot = _Snapshot(reached.containers)
    try:
        for name, places in reached.places.items():
            for container, key in places:
                container[key] = substitutes[name]
        if convert is not None:
            for container, key in reached.arrays:
                container[key] = convert(container[key])
        if numpy_like is not None:
            for namespace in reached.namespaces:
                _rebind(namespace, numpy_like)
        yield reached
    finally:
        snapshot.restore()
