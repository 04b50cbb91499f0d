"""SQLAlchemy's async engine, without loading its ORM.

`sqlalchemy.ext.asyncio` imports its AsyncSession, and with it the whole ORM
(sqlalchemy.orm: about 6 MB and 0.3 s in every backend process), which the
notes never use: they use Core statements on an AsyncEngine. The engine is in
`sqlalchemy.ext.asyncio.engine`, which needs no ORM, but Python runs a
package's __init__ before it imports any module of the package.

So the package is registered here without running its __init__ yet: its
modules import as usual, and the first time anyone asks the package for another
name (`from sqlalchemy.ext.asyncio import AsyncSession`: Alembic, a test), the
__init__ runs, whole, in that same module, and they get what they would have
got. tests/notes/test_async_engine.py checks each thing this relies on, so that
a SQLAlchemy release that changes them fails there, not in production.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import PathFinder
from typing import Any

PACKAGE = "sqlalchemy.ext.asyncio"


def _register_package_without_init() -> None:
    if PACKAGE in sys.modules:
        return  # already imported, whole: nothing to save
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not a package on disk: import it as usual
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)  # __path__ set, __init__ not run

    def __getattr__(name: str) -> Any:  # a module's __getattr__ (PEP 562)
        if PathFinder.find_spec(f"{PACKAGE}.{name}", package.__path__) is not None:
            # One of its modules, not imported yet (`from . import exc` asks this
            # first): the import system imports it when told it is missing.
            raise AttributeError(name)
        # A name of the __init__'s own: run the __init__ now, once.
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
    import sqlalchemy.ext

    sqlalchemy.ext.asyncio = package  # as the import system sets a package's module


_register_package_without_init()

# What the __init__ does besides its imports: load greenlet, which the engine's
# bridge needs (an ImportError here if it is missing); before the workers fork.
importlib.import_module("greenlet")

from sqlalchemy.ext.asyncio.engine import (  # noqa: E402
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)

__all__ = ["AsyncConnection", "AsyncEngine", "create_async_engine"]
