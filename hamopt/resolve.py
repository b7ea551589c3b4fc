"""One name for an optimizer, four ways to give it: what ``hamopt plot`` and ``hamopt compare``
accept on the command line.

* ``RAD``: the zoo member :class:`hamopt.optim.RAD`; label ``RAD``.
* ``torch.Adam`` (or ``torch.optim.Adam``): :class:`torch.optim.Adam`; label ``torch.Adam``.
* ``my.toml``: the class derived from the spec file (:mod:`hamopt.specfile`); label its name.
* ``my.py``: the one ``Optimizer`` subclass an exported module defines; label its name.

Files are recognised by their suffix. Every failure is a :class:`ValueError` that names the
reference and what was wrong with it (an unknown name, a missing file, a spec the reader
rejects, a module that does not import or defines no or several optimizers).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from pathlib import Path

import torch

__all__ = ["FORMS", "load_module", "optimizer_classes", "resolve_optimizer"]

#: The accepted forms, as error messages list them.
FORMS = (
    "a zoo name ({zoo}), torch.NAME for a torch.optim class (e.g. torch.Adam), "
    "a spec file FILE.toml or an exported module FILE.py"
)


def resolve_optimizer(ref: str) -> tuple[str, type[torch.optim.Optimizer]]:
    """The label and the ``torch.optim.Optimizer`` subclass that ``ref`` names.

    Parameters
    ----------
    ref
        A zoo name (``"RAD"``), ``"torch.NAME"``, the path of a spec file (``*.toml``, derived
        with :func:`hamopt.specfile.derive_spec`) or of an exported module (``*.py``, which
        must define exactly one ``Optimizer`` subclass).

    Returns
    -------
    tuple[str, type]
        ``(label, cls)``: the label is the zoo name, ``torch.<class name>``, or for a file the
        name of the class it defines.

    Raises
    ------
    ValueError
        ``ref`` is none of the four forms, or the file it names cannot be used.

    Examples
    --------
    >>> resolve_optimizer("torch.SGD")
    ('torch.SGD', <class 'torch.optim.sgd.SGD'>)
    >>> resolve_optimizer("RAD")[1].__module__
    'hamopt.optim.rad'
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError(f"an optimizer reference must be non-empty text, got {ref!r}")
    suffix = Path(ref).suffix
    if suffix == ".toml":
        return _from_spec(Path(ref))
    if suffix == ".py":
        return _from_module(Path(ref))
    if ref.startswith("torch."):
        cls = _from_torch(ref)
        return f"torch.{cls.__name__}", cls
    from hamopt.zoo import ZOO

    if ref in ZOO:
        import hamopt.optim

        return ref, getattr(hamopt.optim, ref)
    close = [name for name in ZOO if name.lower() == ref.lower()]
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(f"unknown optimizer {ref!r}{hint}; give " + FORMS.format(zoo=", ".join(ZOO)))


def load_module(path: str | Path, name: str | None = None) -> types.ModuleType:
    """Import the Python file ``path`` as a fresh module (not left in ``sys.modules``).

    ``name`` defaults to ``hamopt_module_<stem>_<hash of the resolved path>``, so two files
    with the same stem do not collide. Whatever the file raises on import propagates; a
    ``sys.exit`` there is an ImportError (a SystemExit would end the caller).
    """
    path = Path(path)
    if name is None:
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        name = f"hamopt_module_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # for code that looks itself up while it is imported
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # not an Exception: it would end the caller, with its status
        raise ImportError(f"{path} calls sys.exit({exc.code!r}) when it is imported") from None
    finally:
        sys.modules.pop(name, None)
    return module


def optimizer_classes(module: types.ModuleType) -> list[type[torch.optim.Optimizer]]:
    """The ``torch.optim.Optimizer`` subclasses defined in ``module`` (not those it imports),
    less the base classes of others among them (an exported module's inlined runtime base)."""
    defined = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, torch.optim.Optimizer)
        and obj.__module__ == module.__name__
    ]
    return [c for c in defined if not any(c is not d and issubclass(d, c) for d in defined)]


def _from_torch(ref: str) -> type[torch.optim.Optimizer]:
    name = ref.removeprefix("torch.").removeprefix("optim.")
    cls = getattr(torch.optim, name, None)
    if (
        name.isidentifier()
        and isinstance(cls, type)
        and issubclass(cls, torch.optim.Optimizer)
        and cls is not torch.optim.Optimizer
    ):
        return cls
    raise ValueError(f"torch.optim has no optimizer {name!r} (in {ref!r})")


def _from_spec(path: Path) -> tuple[str, type[torch.optim.Optimizer]]:
    from hamopt.specfile import derive_spec, load_spec

    if not path.is_file():
        raise ValueError(f"no such spec file: {path}")
    spec = load_spec(path)  # SpecError (a ValueError) names the file and the key
    return spec.name, derive_spec(spec).cls


def _from_module(path: Path) -> tuple[str, type[torch.optim.Optimizer]]:
    if not path.is_file():
        raise ValueError(f"no such module: {path}")
    try:
        module = load_module(path)
    except Exception as exc:  # whatever the file raises on import is the finding
        raise ValueError(f"{path}: cannot import it: {exc!r}") from exc
    classes = optimizer_classes(module)
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise ValueError(
            f"{path}: an exported module must define exactly one torch.optim.Optimizer "
            f"subclass; found {len(classes)} ({found})"
        )
    return classes[0].__name__, classes[0]
