"""The CloudWatch Logs error codes, under cove's one exception root (:mod:`cove.errors`).

::

    ClientError
    ├── ResourceNotFoundException       a log group or stream that does not exist
    ├── ResourceAlreadyExistsException  creating a group or stream that exists
    └── InvalidParameterException       a bad name, limit, time range, token or pattern
"""

from __future__ import annotations

from cove.errors import ClientError


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ClientError):
    code = "ResourceAlreadyExistsException"


class InvalidParameterException(ClientError):
    code = "InvalidParameterException"


def group_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The specified log group does not exist.")


def stream_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The specified log stream does not exist.")
