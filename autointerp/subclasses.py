"""Find an extension class by its short `name` among the subclasses of a base class (no registry)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T", bound=type)


def named_subclasses(base: T) -> dict[str, T]:
    """{name: class} of every subclass of `base` that defines its own `name`, depth first.

    A subclass that only inherits `name` is left out (it would shadow its parent); of two classes
    defining the same name, the one found later wins."""
    found: dict[str, T] = {}
    for sub in base.__subclasses__():
        if "name" in vars(sub):
            found[sub.name] = sub
        found.update(named_subclasses(sub))
    return found


def subclass_named(base: T, name: str, setting: str) -> T:
    """The subclass of `base` whose `name` is `name`; ValueError naming `setting` and the choices otherwise."""
    classes = named_subclasses(base)
    if name not in classes:
        raise ValueError(f"{setting}: unknown name {name!r}; choose from {', '.join(sorted(classes))}")
    return classes[name]
