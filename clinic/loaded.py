"""What a row held when it was read: for the few fields a model names, so that a
`post_save` receiver can tell what a save changed without reading the row again.

Django's documented hook for it is `Model.from_db` ("customizing model loading"). A
new instance remembers nothing until it is saved; a receiver calls `remember_loaded`
after acting, so that a second save of the same instance compares with the first.
"""

from typing import Any, ClassVar, Self

from django.db import models

_NOTHING: dict[str, Any] = {}


class LoadedValues(models.Model):
    """Mixin: keeps the values of `tracked_fields` (attribute names: `site_id`) as read."""

    tracked_fields: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Self:
        instance = super().from_db(db, field_names, values)
        tracked = cls.tracked_fields
        instance._loaded_values = {
            name: value for name, value in zip(field_names, values, strict=True) if name in tracked
        }
        return instance

    def loaded_values(self) -> dict[str, Any]:
        """The tracked values as read or last saved ({} for a row never read or saved)."""
        return getattr(self, "_loaded_values", _NOTHING)

    def current_values(self) -> dict[str, Any]:
        """The tracked values the instance holds now (a deferred one is not read)."""
        return {name: self.__dict__[name] for name in self.tracked_fields if name in self.__dict__}

    def remember_loaded(self) -> None:
        self._loaded_values = self.current_values()
