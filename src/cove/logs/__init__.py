"""CloudWatch Logs: log groups, streams and events in the metadata database, and the subset of
the Logs API that the SageMaker SDK and the AWS CLI use to read them.

Writers (training jobs, endpoints, functions) call :meth:`LogStore.put_events`; the edge serves
:func:`logs_service`.
"""

from cove.logs._api import logs_service
from cove.logs._errors import (
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from cove.logs._filter import compile_pattern
from cove.logs._store import (
    Cursor,
    EventPage,
    FilterPage,
    LogEvent,
    LogGroupInfo,
    LogStore,
    LogStreamInfo,
    Position,
)

__all__ = ["Cursor", "EventPage", "FilterPage", "InvalidParameterException", "LogEvent",
           "LogGroupInfo", "LogStore", "LogStreamInfo", "Position",
           "ResourceAlreadyExistsException", "ResourceNotFoundException", "compile_pattern",
           "logs_service"]
