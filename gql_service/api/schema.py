"""The strawberry schema, built once per process."""

from __future__ import annotations

import decimal
import functools
import logging
from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql_service.api.common import Grant
from gql_service.api.errors import ErrorCodes, is_expected
from gql_service.api.events import EventNode, EventSubscriptions
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


def build_schema(*, introspection: bool = False) -> CodedSchema:
    return CodedSchema(
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
        extensions=[functools.partial(ErrorCodes, introspection=introspection)],
        config=StrawberryConfig(
            auto_camel_case=True,
            scalar_map={datetime: DateTime, decimal.Decimal: Decimal},
        ),
    )


def export_sdl() -> str:
    return build_schema(introspection=True).as_str() + "\n"
