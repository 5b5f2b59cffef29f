"""The report's name for effdl.plan.texchars (Unicode in user strings that reach TeX), which the DAG build reads too."""

from effdl.plan.texchars import UNICODE_TO_TEX, describe, map_unicode, typesettable, unmappable

__all__ = ["UNICODE_TO_TEX", "describe", "map_unicode", "typesettable", "unmappable"]
