"""Error codes on every GraphQL error, and masking of the unexpected ones.

Parse failures get GRAPHQL_PARSE_FAILED; documents that break a validation
rule get GRAPHQL_VALIDATION_FAILED, except bad argument values (unknown enum
values, wrong literal types, @oneOf misuse), which are BAD_USER_INPUT like
bad variable values. Errors raised by the service carry their own code.
Anything else is masked as INTERNAL_SERVER_ERROR and logged once, with its
traceback, by ``CodedSchema.process_errors``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, cast

from graphql import (
    GraphQLError,
    OperationDefinitionNode,
    StringValueNode,
    Visitor,
    specified_rules,
    validate,
    visit,
)
from graphql.validation import NoSchemaIntrospectionCustomRule, ValuesOfCorrectTypeRule
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import (
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gql_service.api.document_cache import CachedDocument, DocumentCache
from gql_service.api.limits import QueryLimits, limit_errors
from gql_service.errors import ServiceError

logger = logging.getLogger(__name__)

MASKED_MESSAGE = "Internal server error."
# How graphql-core starts the suggestions it appends to a message.
SUGGESTION = " Did you mean "


class CodedValuesOfCorrectType(ValuesOfCorrectTypeRule):
    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {"code": "BAD_USER_INPUT"}
        super().report_error(error)


def validation_rules(introspection: bool) -> tuple[Any, ...]:
    rules: list[Any] = [
        CodedValuesOfCorrectType if rule is ValuesOfCorrectTypeRule else rule
        for rule in specified_rules
    ]
    rules += [MaybeNullValidationRule, OneOfInputValidationRule]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def parse_error_extensions(error: GraphQLError, limits: QueryLimits) -> dict[str, Any]:
    """A parse aborted by a limit (tokens, comments, nesting) is too complex."""
    if "Parsing aborted." not in error.message:
        return {"code": "GRAPHQL_PARSE_FAILED"}
    if "nested too deeply" in error.message:
        limit, maximum = "depth", limits.max_depth
    else:
        limit, maximum = "tokens", limits.max_tokens
    return {"code": "QUERY_TOO_COMPLEX", "limit": limit, "maximum": maximum}


def is_expected(error: GraphQLError) -> bool:
    """True for errors whose message a client may see as it is."""
    if error.extensions and "code" in error.extensions:
        return True
    original = error.original_error
    if isinstance(
        original,
        ServiceError
        | StrawberryInputCoercionError
        | CannotGetOperationTypeError
        | InvalidOperationTypeError,
    ):
        return True
    # Pre-execution input errors (variable coercion) have no path; graphql-core
    # raises them as GraphQLErrors of its own, or wraps a scalar's ValueError.
    return error.path is None and (
        original is None or isinstance(original, GraphQLError | ValueError | TypeError)
    )


def code_error(error: GraphQLError) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if isinstance(original, ServiceError):
        error.extensions = {**original.extensions, "code": original.code}
        error.message = original.message
        return error
    if isinstance(original, CannotGetOperationTypeError):
        # Over HTTP the view answers 400; a WebSocket operation gets this
        # (graphql-transport-ws closes with 4400 and it as the reason). The
        # name is quoted as JSON, so any text it holds can be sent.
        name = original.operation_name
        error.message = (
            f"Unknown operation named {json.dumps(name)}."
            if name is not None
            else "The document has no operation to run."
        )
        error.extensions = {"code": "BAD_USER_INPUT"}
        return error
    if isinstance(original, InvalidOperationTypeError):
        # Over HTTP the view answers 405/400; on the legacy graphql-ws
        # protocol strawberry runs subscriptions only.
        error.message = (
            "Only subscriptions run over graphql-ws; send queries and mutations "
            "over HTTP or graphql-transport-ws."
        )
        error.extensions = {"code": "BAD_USER_INPUT"}
        return error
    if isinstance(original, StrawberryInputCoercionError) or is_expected(error):
        error.extensions = {"code": "BAD_USER_INPUT"}
        return error
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR"},
    )


def request_errors(context: Any) -> list[GraphQLError]:
    """Problems graphql-core or strawberry would let through, per request: an
    operation left to guess, and refused text in the variables."""
    document = context.graphql_document
    operations = [
        d for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    # NOTE: strawberry runs the first operation when several are sent without
    # operationName; the GraphQL spec requires refusing the request.
    if len(operations) > 1 and context._provided_operation_name is None:
        return [
            GraphQLError(
                "operationName is required when the document has several operations.",
                extensions={"code": "BAD_USER_INPUT"},
            )
        ]
    return _text_errors(_strings(context.variables))


def literal_errors(document: Any) -> list[GraphQLError]:
    """Refused text (NUL, lone surrogates) in the document's own strings."""
    return _text_errors(n.value for n in _string_values(document))


def _text_errors(texts: Iterable[str]) -> list[GraphQLError]:
    for text in texts:
        if not is_clean_text(text):
            return [
                GraphQLError(
                    "Text must not contain NUL characters or lone surrogates.",
                    extensions={"code": "BAD_USER_INPUT"},
                )
            ]
    return []


def operation_name_problem(name: object) -> str | None:
    """Why a request's operationName is refused, or None when it is usable.

    Checked before anything echoes the name back (an error message, a
    WebSocket close reason), over HTTP and WebSocket alike.
    """
    if name is None:
        return None
    if not isinstance(name, str):
        return "operationName must be a string."
    if not is_clean_text(name):
        return "operationName must not contain NUL characters or lone surrogates."
    return None


def is_clean_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _string_values(document: Any) -> Iterator[StringValueNode]:
    found: list[StringValueNode] = []

    class Collect(Visitor):
        def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
            found.append(node)

    visit(document, Collect())
    return iter(found)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class ErrorCodes(SchemaExtension):
    """Runs validation with coded rules and codes every error of the result."""

    def __init__(
        self,
        *,
        introspection: bool = False,
        limits: QueryLimits | None = None,
        documents: DocumentCache | None = None,
    ) -> None:
        self._rules = validation_rules(introspection)
        # Suggestions ("Did you mean ...") tell the schema to whoever asks.
        self._suggestions = introspection
        self._limits = limits or QueryLimits()
        self._documents = documents
        self._cached: CachedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        tokens = self._limits.max_tokens
        # Strawberry's type for the options names only the deprecated max_tokens.
        options = cast("dict[str, Any]", context.parse_options)
        options.update(max_lexical_tokens=tokens, max_comments=tokens)
        text = context.query
        if self._documents is not None and text and context.graphql_document is None:
            self._cached = self._documents.get(text)
            if self._cached is not None:
                # Strawberry does not parse a document that is already set.
                context.graphql_document = self._cached.document
        yield
        for error in context.pre_execution_errors or []:
            error.extensions = parse_error_extensions(error, self._limits)
        document = context.graphql_document
        if (
            self._documents is not None
            and self._cached is None
            and text
            and document is not None
            and not context.pre_execution_errors
        ):
            self._cached = self._documents.put(text, document)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if (
            context.graphql_document is not None
            and context.pre_execution_errors is None
        ):
            document = context.graphql_document
            schema = context.schema._schema
            # Limits first: they are cheap, and they keep an alias bomb away
            # from the rules whose cost grows with the square of the fields.
            # They read the variables (page sizes), so they run every time.
            errors = limit_errors(schema, document, context.variables, self._limits)
            cached = (
                self._cached
                if self._cached and self._cached.document is document
                else None
            )
            if not errors and not (cached and cached.valid):
                errors = validate(
                    schema,
                    document,
                    self._rules,
                    hide_suggestions=not self._suggestions,
                ) or literal_errors(document)
                if not errors and cached is not None:
                    cached.valid = True
            if not errors:
                errors = request_errors(context)
            for error in errors:
                if not (error.extensions and "code" in error.extensions):
                    code = (
                        "BAD_USER_INPUT"
                        if isinstance(error, StrawberryInputCoercionError)
                        else "GRAPHQL_VALIDATION_FAILED"
                    )
                    error.extensions = {"code": code}
            # Strawberry skips its own validation when this is already set.
            context.pre_execution_errors = errors
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [self._coded(error) for error in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription gets its codes before it is sent."""
        if getattr(result, "errors", None):
            result.errors = [self._coded(error) for error in result.errors]
        yield None

    def _coded(self, error: GraphQLError) -> GraphQLError:
        coded = code_error(error)
        if not self._suggestions:
            # NOTE: strawberry does not pass graphql-core's hide_suggestions to
            # execution, where variable values are coerced; cut them here.
            coded.message = coded.message.split(SUGGESTION)[0]
        return coded
