"""CQL2 (as parsed by pygeofilter) to a parametrised SQL WHERE clause.

Covers CQL2 basic (comparison, LIKE, IN, BETWEEN, IS NULL, AND/OR/NOT) and the spatial
predicates. Anything else (temporal, arithmetic, functions) is refused with a clear message
rather than silently ignored. The SQL dialect differences (quoting, spatial test) come from a
``Dialect``; attribute names are checked against the layer's fields, so nothing the client
writes reaches the SQL text except through parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shapely
from pygeofilter import ast, values


class FilterError(ValueError):
    """The filter is well-formed CQL2 but cannot apply to this collection."""


# what a property or literal is, for comparisons: integer and number compare, date and datetime
# compare (with each other and with text that reads as one), text with text, booleans with booleans
_FAMILY = {"integer": "number", "number": "number", "string": "text", "boolean": "boolean",
           "date": "temporal", "datetime": "temporal", "date-time": "temporal"}
MAX_IN = 1000


def _literal_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime | dt.date):
        return "datetime"
    return None


SPATIAL_OPS = {
    ast.GeometryIntersects: "intersects", ast.GeometryDisjoint: "disjoint",
    ast.GeometryContains: "contains", ast.GeometryWithin: "within",
    ast.GeometryTouches: "touches", ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps", ast.GeometryEquals: "equals",
}
_COMPARISON = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
               ast.GreaterThan: ">", ast.GreaterEqual: ">="}


@dataclass
class Dialect:
    """How one backend spells what CQL2 needs.

    ``spatial(op, geometry, params)`` returns SQL that is true where the feature's geometry is in
    relation ``op`` with ``geometry`` (a shapely geometry in the storage CRS); it may append to
    ``params``.
    """

    quote: Callable[[str], str]
    spatial: Callable[[str, shapely.Geometry, list[Any]], str]
    boolean: Callable[[bool], Any] = int
    like_escape: str = "\\"
    max_in: int = MAX_IN
    temporal: Callable[[str, bool], str] = lambda column, date_only: column


@dataclass
class Translation:
    sql: str
    params: list[Any] = field(default_factory=list)


def to_sql(node: ast.Node, fields: dict[str, str], geometry_names: set[str], dialect: Dialect) -> Translation:
    """Translate ``node``; ``fields`` maps property name to its type (integer, number, string,
    boolean, date, datetime: the queryables' type, or format where there is one),
    ``geometry_names`` are the names a filter may use for the feature geometry. A literal of
    another type than the property it is compared with is a FilterError naming both."""
    params: list[Any] = []
    sql = _Translator(fields, geometry_names, dialect, params).visit(node)
    return Translation(sql, params)


@dataclass
class _Translator:
    fields: dict[str, str]
    geometry_names: set[str]
    dialect: Dialect
    params: list[Any]

    def visit(self, node: Any) -> str:
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.visit(node.lhs)} {op} {self.visit(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.visit(node.sub_node)})"
        if type(node) in _COMPARISON:
            self.compatible(node.lhs, [node.rhs])
            return (f"({self.scalar(node.lhs, node.rhs)} {_COMPARISON[type(node)]} "
                    f"{self.scalar(node.rhs, node.lhs)})")
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.In):
            if len(node.sub_nodes) > self.dialect.max_in:
                raise FilterError(f"IN lists hold at most {self.dialect.max_in} values; this one "
                                  f"has {len(node.sub_nodes)}")
            self.compatible(node.lhs, node.sub_nodes)
            items = ", ".join(self.scalar(v, node.lhs) for v in node.sub_nodes)
            neg = "NOT " if node.not_ else ""
            return f"({self.scalar(node.lhs)} {neg}IN ({items}))"
        if isinstance(node, ast.Between):
            self.compatible(node.lhs, [node.low, node.high])
            if self.kind(node.lhs) in ("text", "boolean"):
                raise FilterError(f"BETWEEN compares numbers or dates; {self.describe(node.lhs)}")
            neg = "NOT " if node.not_ else ""
            return (f"({self.scalar(node.lhs)} {neg}BETWEEN {self.scalar(node.low, node.lhs)} "
                    f"AND {self.scalar(node.high, node.lhs)})")
        if isinstance(node, ast.IsNull):
            return f"({self.scalar(node.lhs)} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.Include):
            return "(1 = 0)" if node.not_ else "(1 = 1)"
        if type(node) in SPATIAL_OPS:
            return self.spatial(SPATIAL_OPS[type(node)], node.lhs, node.rhs)
        if isinstance(node, ast.BBox):
            box = shapely.box(node.minx, node.miny, node.maxx, node.maxy)
            return self.spatial("intersects", node.lhs, values.Geometry(shapely.geometry.mapping(box)))
        if isinstance(node, bool):
            return "(1 = 1)" if node else "(1 = 0)"
        raise FilterError(f"{_name(node)} is not supported (CQL2 basic and spatial are)")

    def like(self, node: ast.Like) -> str:
        if not isinstance(node.pattern, str):
            raise FilterError("LIKE needs a text pattern")
        if isinstance(node.lhs, ast.Attribute) and self.kind(node.lhs) != "text":
            raise FilterError(f"LIKE applies to text properties; {self.describe(node.lhs)}")
        # CQL2 uses % and _ with \ as escape, as SQL does
        self.params.append(node.pattern)
        neg = "NOT " if node.not_ else ""
        lhs = self.scalar(node.lhs)
        return f"({lhs} {neg}LIKE ? ESCAPE '{self.dialect.like_escape}')"

    def field_type(self, node: ast.Attribute) -> str:
        """The type of the property ``node`` names; a FilterError when the layer has none."""
        if node.name not in self.fields:
            raise FilterError(f"unknown property {node.name!r} in the filter "
                              f"(queryables: {', '.join(sorted(self.fields))})")
        return self.fields[node.name]

    def kind(self, node: Any) -> str | None:
        """The comparison family of a property or literal (None: unknown, e.g. a function)."""
        if isinstance(node, ast.Attribute):
            return _FAMILY.get(self.field_type(node), None)
        lit = _literal_kind(node)
        return _FAMILY.get(lit, None) if lit else None

    def describe(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            return f"{node.name!r} ({_article(self.field_type(node) or 'value')})"
        return f"{node!r} ({_article(_literal_kind(node) or 'value')})"

    def compatible(self, lhs: Any, others: list[Any]) -> None:
        want = self.kind(lhs)
        for other in others:
            got = self.kind(other)
            if want is None or got is None or got == want:
                continue
            text_date = {want, got} == {"text", "temporal"}
            literal = other if not isinstance(other, ast.Attribute) else lhs
            if text_date and isinstance(literal, str) and _reads_as_date(literal):
                continue
            prop, value = (lhs, other) if isinstance(lhs, ast.Attribute) else (other, lhs)
            raise FilterError(f"cannot compare {self.describe(prop)} with {self.describe(value)}")

    def scalar(self, node: Any, other: Any = None) -> str:
        """SQL for a property or a literal; a literal compared with a date or date-time
        property (``other``) is bound as the text such a column holds (a date as YYYY-MM-DD, a
        date-time as YYYY-MM-DDTHH:MM:SS.sssZ in UTC), which orders right as GeoPackage text
        and casts right in PostgreSQL."""
        if isinstance(other, ast.Attribute) and isinstance(node, str | dt.date) \
                and _FAMILY.get(self.fields.get(other.name, "")) == "temporal":
            self.params.append(temporal_text(node, self.fields[other.name] == "date"))
            return "?"
        if isinstance(node, ast.Attribute):
            ftype = self.field_type(node)
            if _FAMILY.get(ftype) == "temporal":
                return self.dialect.temporal(self.dialect.quote(node.name), ftype == "date")
            return self.dialect.quote(node.name)
        if isinstance(node, bool):
            self.params.append(self.dialect.boolean(node))
            return "?"
        if isinstance(node, int) and not -(2**63) <= node < 2**63:
            raise FilterError(f"{node} is beyond the 64-bit integers a property can hold")
        if isinstance(node, int | float | str):
            self.params.append(node)
            return "?"
        if isinstance(node, dt.datetime | dt.date):
            self.params.append(node.isoformat())
            return "?"
        raise FilterError(f"{_name(node)} is not supported as a value (CQL2 basic)")

    def spatial(self, op: str, lhs: Any, rhs: Any) -> str:
        if isinstance(lhs, values.Geometry | values.Envelope | ast.Function) and isinstance(rhs, ast.Attribute):
            lhs, rhs = rhs, lhs
            op = {"contains": "within", "within": "contains"}.get(op, op)
        if not (isinstance(lhs, ast.Attribute) and lhs.name in self.geometry_names):
            name = getattr(lhs, "name", _name(lhs))
            raise FilterError(f"spatial predicates apply to the geometry, not to {name!r}")
        if isinstance(rhs, values.Envelope):
            # pygeofilter's CQL2 JSON parser builds Envelope(*bbox): its x1, x2, y1, y2 hold
            # CQL2's minx, miny, maxx, maxy
            geom = _box([rhs.x1, rhs.x2, rhs.y1, rhs.y2])
        elif isinstance(rhs, ast.Function) and rhs.name.lower() == "bbox":
            geom = _box(rhs.arguments)  # CQL2 text BBOX(minx, miny, maxx, maxy) literal
        elif isinstance(rhs, values.Geometry):
            try:
                geom = shapely.geometry.shape(rhs.geometry)
            except Exception as err:  # noqa: BLE001 - a client's malformed literal
                raise FilterError(f"invalid geometry in the filter ({err})") from err
        else:
            raise FilterError("a spatial predicate needs a geometry literal")
        if geom.is_empty or not geom.is_valid:
            raise FilterError("the geometry in the filter is empty or invalid")
        return self.dialect.spatial(op, geom, self.params)


def _box(args: Any) -> shapely.Geometry:
    nums = list(args)
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(isinstance(v, int | float) for v in nums):
        raise FilterError("BBOX needs 4 (or 6) numbers: minx, miny, maxx, maxy")
    x0, y0, x1, y1 = (float(v) for v in nums)
    if x0 > x1 or y0 > y1:
        raise FilterError("BBOX: min greater than max")
    return shapely.box(x0, y0, x1, y1)


def _name(node: Any) -> str:
    return type(node).__name__


def _article(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def temporal_text(value: str | dt.date, date_only: bool) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if date_only:
        return value.date().isoformat()
    return value.isoformat(timespec="milliseconds") + "Z"


def _reads_as_date(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
