"""The base of every config model, and how a model's rules between its fields report problems."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from components.config.forms import PROJECT


class Model(BaseModel):
    """A stack setting's typed value: strict, unknown keys forbidden, frozen; keys are the aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, arbitrary_types_allowed=True)
    # How messages call a key this model does not know.
    unknown: ClassVar[str] = "unknown key"


def problems(*found: tuple[str, str, str], model: Any = None) -> PydanticCustomError:
    """Problems a model's rule found: (key below the model, problem, expected form); a key starting
    with ':' is a top-level key (a secret). Raised from a validator; rendered by messages.render.
    `model`: the model the rule judged (its fields valid), for the rules between settings."""
    return PydanticCustomError(PROJECT, "{count} problem(s)", {"count": len(found), "problems": list(found),
                                                               "model": model})


def rules(check: Callable[[Any, dict, str, Mapping[str, Any]], Iterable[tuple[str, str, str]]]) -> Any:
    """A model's rules between its fields, run once its fields are valid: `check(model, data, stack, valid)`
    yields the problems (as `problems` takes them); `data` is the input as written (the secrets given),
    `valid` the stack's settings validated before this one (StackConfig's field order)."""

    def validate(cls: Any, data: Any, handler: Any, info: Any) -> Any:
        model = handler(data)
        context = info.context or {}
        found = list(check(model, data if isinstance(data, dict) else {}, context.get("stack", "<stack>"),
                           context.get("valid", {})))
        if found:
            raise problems(*found, model=model)
        return model

    return model_validator(mode="wrap")(classmethod(validate))


def null_is_unset(*keys: str) -> Any:
    """These keys written empty (YAML null) are left unset, as if not written: the field's default, or
    "missing" when it has none."""

    def drop(cls: Any, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None or k not in keys} if isinstance(data, dict) else data

    return model_validator(mode="before")(classmethod(drop))
