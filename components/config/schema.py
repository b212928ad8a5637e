"""The walk over the models' annotations that messages need: the type, accepted form and keys at a
config path (hand-written: pydantic reports where a value failed, not the field's metadata there)."""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from components.config.secrets import Secret


def unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip Optional and Annotated; return the bare type and the Annotated metadata."""
    metadata: list[Any] = []
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            metadata.extend(args[1:])
            tp = args[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, metadata
            tp = args[0]
        else:
            return tp, metadata


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def members(tp: Any) -> list[type[BaseModel]]:
    """The models of a union of models (a discriminated union), else []."""
    if get_origin(tp) not in (Union, types.UnionType):
        return []
    return [a for a in get_args(tp) if is_model(a)]


def field_type(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return None


def keys_of(tp: Any) -> list[str]:
    """The keys a stack file may write in this model (or union of models), secrets aside."""
    keys: list[str] = []
    for model in members(tp) or [tp]:
        for name, info in model.model_fields.items():
            if not any(isinstance(m, Secret) for m in unwrap(field_type(model, info.alias or name))[1]):
                keys.append(info.alias or name)
        keys.extend(getattr(model, "also_known", ()))
    return list(dict.fromkeys(keys))


def walk(tp: Any, loc: tuple[Any, ...]) -> tuple[Any, list[Any], tuple[str, ...]]:
    """The type and metadata at `loc` below `tp`, and the config keys of `loc` (a union's tag is no key);
    (None, [], keys) past a leaf or an unknown key."""
    keys: list[str] = []
    for part in loc:
        part = str(part)
        bare, _ = unwrap(tp)
        union = members(bare)
        if union:
            tagged = [m for m in union if part in get_args(unwrap(m.model_fields["mode"].annotation)[0])]
            if tagged:
                tp = tagged[0]
                continue
            holding = [m for m in union if field_type(m, part) is not None]  # a path as written: no tag
            bare = holding[0] if holding else union[0]
        keys.append(part)
        if get_origin(bare) in (list, tuple) and part.isdigit():
            tp = get_args(bare)[0]
            continue
        if get_origin(bare) is dict:
            tp = get_args(bare)[1]
            continue
        if not is_model(bare) or field_type(bare, part) is None:
            return None, [], tuple(keys)
        tp = field_type(bare, part)
    bare, metadata = unwrap(tp)
    return bare, metadata, tuple(keys)


def expects_text(bare: Any) -> bool:
    return bare is str or get_origin(bare) is Literal


@cache
def secret_homes(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Each secret key -> the aliases of `model`'s settings whose model holds it."""
    homes: dict[str, list[str]] = {}
    for name, info in model.model_fields.items():
        bare, _ = unwrap(field_type(model, info.alias or name))
        for inner in members(bare) or ([bare] if is_model(bare) else []):
            for key in inner.model_fields:
                for mark in unwrap(field_type(inner, inner.model_fields[key].alias or key))[1]:
                    if isinstance(mark, Secret):
                        homes.setdefault(mark.key, []).append(info.alias or name)
    return {key: tuple(dict.fromkeys(found)) for key, found in homes.items()}
