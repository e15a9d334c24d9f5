"""The strawberry schema, built once per process."""

from __future__ import annotations

import decimal
import functools
import logging
from datetime import datetime
from typing import Any

import strawberry
from graphql import (
    GraphQLDefaultInput,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)
from graphql.language import parse_const_value
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql_service.api.common import Grant
from gql_service.api.context import OperationScope
from gql_service.api.document_cache import DocumentCache
from gql_service.api.errors import ErrorCodes, is_expected
from gql_service.api.events import EventNode, EventSubscriptions
from gql_service.api.limits import QueryLimits
from gql_service.api.mutations import Mutation
from gql_service.api.queries import Query
from gql_service.api.scalars import DateTime
from gql_service.api.types import (
    ProjectType,
    PromotionType,
    ResourceReferenceType,
    ServiceCollectionType,
)
from gql_service.api.vultr_types import Decimal
from gql_service.api.workflow_api import WorkflowSubscriptions
from gql_service.api.workflow_nodes import WorkflowNode, WorkflowRunNode
from gql_service.observability.metrics import OperationRecorder

logger = logging.getLogger(__name__)


@strawberry.type
class Subscription(EventSubscriptions, WorkflowSubscriptions):
    pass


class CodedSchema(strawberry.Schema):
    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        # Expected errors are answers, not faults: log only the others, once.
        for error in errors:
            if not is_expected(error):
                logger.error(
                    "Unexpected error in %s at %s",
                    execution_context.operation_name if execution_context else None,
                    error.path,
                    exc_info=error.original_error or error,
                )


def build_schema(
    *, introspection: bool = False, limits: QueryLimits | None = None
) -> CodedSchema:
    schema = CodedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            ProjectType,
            ServiceCollectionType,
            ResourceReferenceType,
            PromotionType,
            EventNode,
            WorkflowNode,
            WorkflowRunNode,
            Grant,
        ],
        extensions=[
            OperationScope,
            OperationRecorder,
            functools.partial(
                ErrorCodes,
                introspection=introspection,
                limits=limits,
                documents=DocumentCache(),
            ),
        ],
        config=StrawberryConfig(
            auto_camel_case=True,
            scalar_map={datetime: DateTime, decimal.Decimal: Decimal},
        ),
    )
    _literal_container_defaults(schema._schema)
    return schema


def _literal_container_defaults(schema: GraphQLSchema) -> None:
    """Give `JSON = {}` defaults a literal, so introspection can print them.

    NOTE: graphql-core turns a scalar's default into an AST through the
    scalar's serialized value, which it cannot do for an object; given as a
    literal, the default is printed as is and still coerces to ``{}``.
    """
    for named in schema.type_map.values():
        if isinstance(named, GraphQLInputObjectType):
            items: list[Any] = list(named.fields.values())
        elif isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            items = [
                arg for field in named.fields.values() for arg in field.args.values()
            ]
        else:
            continue
        for item in items:
            if isinstance(item.default_value, dict) and not item.default_value:
                # The value stays too: strawberry's SDL printer reads it.
                item.default = GraphQLDefaultInput(literal=parse_const_value("{}"))


def export_sdl() -> str:
    return build_schema(introspection=True).as_str() + "\n"
