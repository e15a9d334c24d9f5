"""Query limits checked before execution: depth, aliases and estimated cost.

Every operation of the document is measured with its fragments expanded, so
an alias bomb or a deep selection hidden behind fragment spreads counts in
full. Each fragment is measured once and reused, which keeps the walk linear
in the size of the document even when the expansion is exponential. A spread
that closes a cycle adds nothing here; validation refuses the cycle.

The alias count also takes every field selected again under a response key
already taken in the same selection set (directly, through an inline
fragment or a spread): validation compares such fields pairwise, and a few
hundred copies of one field cost it seconds.

The cost estimates how many objects the answer can hold: a field that
selects an object costs 1 plus its children's cost, times its page size
when it takes ``first`` (the argument, a variable or the schema default,
within 1-100), so nested connections multiply. Scalar fields are free.
Lists without ``first`` (environments, tags, owners) are bounded by the
domain and count their children once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

if TYPE_CHECKING:
    from gql_service.config import Settings

# The page size bounds of ids.page_size: outside them the resolver refuses
# the request with BAD_USER_INPUT, so the estimate never goes beyond them.
MIN_PAGE = 1
MAX_PAGE = 100
# Introspection's ofType chains one type to the next without fanning out;
# GraphiQL nests it nine deep, so it does not count toward the depth.
CHAIN_FIELDS = frozenset({"ofType"})


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_cost: int = 50_000

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
            max_cost=settings.max_query_cost,
        )


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.cost + other.cost,
        )


# A selection set's measure and how often each response key is selected in it.
Merged = tuple[Measure, Counter[str]]


class OperationMeter:
    """Measures one operation; fragments are measured once and remembered."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = _variable_values(operation, variables or {})
        self.merged: dict[str, Merged] = {}
        self.in_progress: set[str] = set()

    def measure_operation(self, operation: OperationDefinitionNode) -> Measure:
        root = self.schema.get_root_type(operation.operation)
        return self.measure_selections(operation.selection_set, root)

    def measure_selections(
        self, selection_set: SelectionSetNode | None, parent: Any
    ) -> Measure:
        """The measure of one selection set with its fragments merged in;
        every field selected again under a key already taken counts as an
        alias (validation compares such fields pairwise)."""
        if selection_set is None:
            return Measure()
        found, keys = self.merge_selections(selection_set, parent)
        repeats = sum(count - 1 for count in keys.values())
        return Measure(found.depth, found.aliases + repeats, found.cost)

    def merge_selections(self, selection_set: SelectionSetNode, parent: Any) -> Merged:
        total, keys = Measure(), Counter[str]()
        spread: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.measure_field(selection, parent)
                keys[(selection.alias or selection.name).value] += 1
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self._type(condition.name.value) if condition else parent
                found = self.merge_selections(selection.selection_set, scope)
            elif isinstance(selection, FragmentSpreadNode):
                # Execution merges repeated spreads of one fragment in a set.
                if selection.name.value in spread:
                    continue
                spread.add(selection.name.value)
                found = self.merge_fragment(selection.name.value)
            total += found[0]
            keys.update(found[1])
        return total, keys

    def measure_field(self, node: FieldNode, parent: Any) -> Measure:
        definition = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
        child_type = get_named_type(definition.type) if definition else None
        children = self.measure_selections(node.selection_set, child_type)
        own_depth = 0 if node.name.value in CHAIN_FIELDS else 1
        cost = 0
        if node.selection_set is not None:
            cost = 1 + self.page_size(node, definition) * children.cost
        return Measure(
            depth=children.depth + own_depth,
            aliases=children.aliases + (1 if node.alias else 0),
            cost=cost,
        )

    def merge_fragment(self, name: str) -> Merged:
        if name in self.merged:
            return self.merged[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.in_progress:
            return Measure(), Counter()
        self.in_progress.add(name)
        scope = self._type(fragment.type_condition.name.value)
        found = self.merge_selections(fragment.selection_set, scope)
        self.in_progress.discard(name)
        self.merged[name] = found
        return found

    def page_size(self, node: FieldNode, definition: Any) -> int:
        if definition is None or "first" not in definition.args:
            return 1
        default = definition.args["first"].default_value
        value: Any = default
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value, value)
        # null means the resolver's default, as an absent argument does.
        value = default if value is None else value
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_PAGE
        return min(max(value, MIN_PAGE), MAX_PAGE)

    def _type(self, name: str) -> Any:
        return self.schema.get_type(name)


def _variable_values(
    operation: OperationDefinitionNode, provided: dict[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in provided:
            values[name] = provided[name]
        elif isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    return values


def limit_errors(
    schema: GraphQLSchema,
    document: Any,
    variables: dict[str, Any] | None,
    limits: QueryLimits,
) -> list[GraphQLError]:
    """QUERY_TOO_COMPLEX errors of the operations that go past a limit."""
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    errors: list[GraphQLError] = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        meter = OperationMeter(schema, fragments, operation, variables)
        try:
            measure = meter.measure_operation(operation)
        except RecursionError:
            # Fragments spread inside fragments hundreds of times over.
            message = "The query nests fragments too deeply."
            return [too_complex(message, "depth", limits.max_depth, [operation])]
        errors += _errors_of(measure, limits, operation)
    return errors


def _errors_of(
    measure: Measure, limits: QueryLimits, operation: OperationDefinitionNode
) -> list[GraphQLError]:
    errors = []
    if measure.depth > limits.max_depth:
        message = (
            f"The query is nested {measure.depth} levels deep; "
            f"the limit is {limits.max_depth}."
        )
        errors.append(too_complex(message, "depth", limits.max_depth, [operation]))
    if measure.aliases > limits.max_aliases:
        message = (
            f"The query uses {measure.aliases} aliases or repeated fields, "
            "counting fragments each time they are spread; "
            f"the limit is {limits.max_aliases}."
        )
        errors.append(too_complex(message, "aliases", limits.max_aliases, [operation]))
    if measure.cost > limits.max_cost:
        # The estimate can be astronomically large, so it is not echoed.
        message = (
            f"The query's estimated cost is over the limit of {limits.max_cost}; "
            "ask for smaller pages (first) or fewer nested lists."
        )
        errors.append(too_complex(message, "cost", limits.max_cost, [operation]))
    return errors


def too_complex(
    message: str, limit: str, maximum: int, nodes: list[Any] | None = None
) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=nodes,
        extensions={"code": "QUERY_TOO_COMPLEX", "limit": limit, "maximum": maximum},
    )
