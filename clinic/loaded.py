"""What a row held when it was read: for the few fields a model names, so that a
`post_save` receiver can tell what a save changed without reading the row again.

Django's documented hook for it is `Model.from_db` ("customizing model loading");
`refresh_from_db` reads again. A new instance remembers nothing until it is saved; a
receiver calls `remember_loaded` after acting, so that a second save of the same
instance compares with the first.
"""

from collections.abc import Iterable
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

    def refresh_from_db(
        self,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        from_queryset: "models.QuerySet[Self] | None" = None,
    ) -> None:
        """Read again: what was just read is what the row holds (for the fields read)."""
        fields = list(fields) if fields is not None else None
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        read = self.current_values()
        if fields is not None:
            names = {
                f.attname
                for f in self._meta.concrete_fields
                if f.name in fields or f.attname in fields
            }
            read = {name: value for name, value in read.items() if name in names}
        self._loaded_values = {**self.loaded_values(), **read}

    def loaded_values(self) -> dict[str, Any]:
        """The tracked values as read or last saved ({} for a row never read or saved)."""
        return getattr(self, "_loaded_values", _NOTHING)

    def current_values(self) -> dict[str, Any]:
        """The tracked values the instance holds now (a deferred one is not read)."""
        return {name: self.__dict__[name] for name in self.tracked_fields if name in self.__dict__}

    def remember_loaded(self) -> None:
        self._loaded_values = self.current_values()
