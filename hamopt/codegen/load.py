"""A generated module made importable: built from its source, registered in ``sys.modules``.

``torch.compile`` reads a traced function's globals through its module, which it imports by
name; a module built with ``exec`` alone cannot be imported, and a compiled step of a derived
optimizer would fail. The module is named after the class and a hash of its source, so that the
same source gives the same module (and the same class) however often it is loaded.
"""

from __future__ import annotations

import hashlib
import sys
import types

__all__ = ["module_from_source"]


def module_from_source(name: str, source: str) -> types.ModuleType:
    """The module that ``source`` (defining class ``name``) builds, registered in ``sys.modules``."""
    key = hashlib.sha256(source.encode()).hexdigest()[:12]
    module_name = f"hamopt_derived_{name.lower()}_{key}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    try:
        exec(compile(source, f"<hamopt derived {name}>", "exec"), module.__dict__)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
