"""The one exception tree of cove.

Every error a client can see is a :class:`CoveError` carrying its AWS error code and HTTP status
as class attributes.  Services raise them deep; the edge renders them once per protocol
(JSON ``__type``, S3 ``<Error>``, STS ``<ErrorResponse>``, bodiless HEAD); the CLI prints them once.

::

    CoveError                          code, status
    ├── ClientError                    4xx: the caller can fix it
    │   ├── ValidationError            ValidationException 400 (JSON services)
    │   ├── ResourceNotFound           ResourceNotFound 400
    │   ├── ResourceInUse              ResourceInUse 400
    │   ├── AuthError                  403; the code depends on the protocol
    │   │   ├── MissingAuthentication  AccessDenied / MissingAuthenticationTokenException
    │   │   ├── InvalidAccessKeyId     InvalidAccessKeyId / UnrecognizedClientException
    │   │   ├── InvalidToken           InvalidToken (S3, 400) / UnrecognizedClientException /
    │   │   │                          InvalidClientTokenId: a temporary key's token is wrong
    │   │   ├── ExpiredToken           ExpiredToken (S3, 400) / ExpiredTokenException
    │   │   ├── SignatureDoesNotMatch  SignatureDoesNotMatch / InvalidSignatureException
    │   │   ├── RequestExpired         AccessDenied (expired presign) / InvalidSignatureException
    │   │   ├── RequestTimeTooSkewed   RequestTimeTooSkewed / InvalidSignatureException
    │   │   ├── IncompleteSignature    AccessDenied / IncompleteSignatureException
    │   │   └── HeadersNotSigned       AccessDenied / IncompleteSignatureException
    │   ├── S3Error                    the S3 codes (NoSuchBucket, NoSuchKey, BadDigest, ...)
    │   │   └── (one class per S3 code, see below)
    │   ├── IAM codes                  NoSuchEntity 404, EntityAlreadyExists 409, DeleteConflict
    │   │                              409, MalformedPolicyDocument 400, InvalidInput 400
    │   ├── AccessDenied               not authorised by IAM: AccessDenied (S3, query) /
    │   │                              AccessDeniedException (JSON 400; rest-json 403)
    │   └── Lambda / API Gateway codes ResourceNotFoundException 404, ResourceConflictException
    │                                  409, InvalidParameterValueException, TooManyRequests-
    │                                  Exception 429, NotFoundException 404, BadRequestException
    └── ServerError                    InternalError 500: a bug or a broken disk, never the caller

Foreign errors (OSError, sqlite, botocore, subprocess) are translated where they enter cove,
chained with ``raise ... from``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CoveError(Exception):
    """Root of every error cove reports to a client."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    #: Codes that replace ``code`` under a given protocol ("json", "query", "rest-xml").
    protocol_codes: ClassVar[dict[str, str]] = {}
    #: Statuses that replace ``status`` under a given protocol.
    protocol_statuses: ClassVar[dict[str, int]] = {}

    def __init__(self, message: str = "", *, headers: dict[str, str] | None = None,
                 **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        #: Extra fields rendered next to Code/Message (S3 puts e.g. BucketName, Key there).
        self.details = details
        #: Response headers the error carries (S3's x-amz-delete-marker on a 404, say).
        self.headers = dict(headers or {})

    def code_for(self, protocol: str) -> str:
        return self.protocol_codes.get(protocol, self.code)

    def status_for(self, protocol: str) -> int:
        return self.protocol_statuses.get(protocol, self.status)


class ServerError(CoveError):
    code = "InternalError"
    status = 500


class ServiceUnavailable(ServerError):
    code = "ServiceUnavailable"
    status = 503


class ClientError(CoveError):
    code = "BadRequest"
    status = 400


class ValidationError(ClientError):
    code = "ValidationException"
    protocol_codes = {"query": "ValidationError"}  # IAM's and STS's name for it


class ResourceNotFound(ClientError):
    code = "ResourceNotFound"


class ResourceInUse(ClientError):
    code = "ResourceInUse"


class SerializationError(ClientError):
    code = "SerializationException"


class ResourceLimitExceeded(ClientError):
    code = "ResourceLimitExceeded"


class UnknownOperation(ClientError):
    code = "UnknownOperationException"
    protocol_codes = {"rest-xml": "NotImplemented", "query": "InvalidAction"}


# --- authentication -------------------------------------------------------------------------


class AuthError(ClientError):
    code = "AccessDenied"
    status = 403


class MissingAuthentication(AuthError):
    code = "AccessDenied"
    protocol_codes = {"json": "MissingAuthenticationTokenException",
                      "rest-json": "MissingAuthenticationTokenException",
                      "query": "MissingAuthenticationToken"}


class InvalidAccessKeyId(AuthError):
    code = "InvalidAccessKeyId"
    protocol_codes = {"json": "UnrecognizedClientException",
                      "rest-json": "UnrecognizedClientException",
                      "query": "InvalidClientTokenId"}


class InvalidToken(AuthError):
    """A temporary key (``ASIA...``) signed with a session token that is not its own.  S3 says
    400 InvalidToken; the JSON APIs 400 UnrecognizedClientException; Lambda 403
    UnrecognizedClientException; the query APIs (STS, IAM) 403 InvalidClientTokenId."""

    code = "InvalidToken"
    status = 400
    protocol_codes = {"json": "UnrecognizedClientException",
                      "rest-json": "UnrecognizedClientException",
                      "query": "InvalidClientTokenId"}
    protocol_statuses = {"rest-json": 403, "query": 403}


class ExpiredToken(AuthError):
    """A temporary key (AssumeRole's) used after its expiration."""

    code = "ExpiredToken"
    status = 400
    protocol_codes = {"json": "ExpiredTokenException", "rest-json": "ExpiredTokenException"}
    protocol_statuses = {"rest-json": 403, "query": 403}


class SignatureDoesNotMatch(AuthError):
    code = "SignatureDoesNotMatch"
    protocol_codes = {"json": "InvalidSignatureException",
                      "rest-json": "InvalidSignatureException"}


class RequestExpired(AuthError):
    code = "AccessDenied"
    protocol_codes = {"json": "InvalidSignatureException",
                      "rest-json": "InvalidSignatureException",
                      "query": "ExpiredToken"}


class RequestTimeTooSkewed(AuthError):
    code = "RequestTimeTooSkewed"
    protocol_codes = {"json": "InvalidSignatureException",
                      "rest-json": "InvalidSignatureException",
                      "query": "SignatureDoesNotMatch"}


class IncompleteSignature(AuthError):
    code = "AccessDenied"
    protocol_codes = {"json": "IncompleteSignatureException",
                      "rest-json": "IncompleteSignatureException",
                      "query": "IncompleteSignature"}


class HeadersNotSigned(AuthError):
    """``x-amz-*`` headers the signature does not cover (they could change what a request does:
    ``x-amz-copy-source`` turns a presigned PUT into a copy)."""

    code = "AccessDenied"
    protocol_codes = {"json": "IncompleteSignatureException",
                      "rest-json": "IncompleteSignatureException",
                      "query": "IncompleteSignature"}


class AuthorizationQueryParametersError(ClientError):
    code = "AuthorizationQueryParametersError"


# --- S3 -------------------------------------------------------------------------------------


class S3Error(ClientError):
    """An error with S3's own code; rendered as ``<Error>`` XML."""


class InvalidBucketName(S3Error):
    code = "InvalidBucketName"


class NoSuchBucket(S3Error):
    code = "NoSuchBucket"
    status = 404


class NoSuchKey(S3Error):
    code = "NoSuchKey"
    status = 404


class NoSuchUpload(S3Error):
    code = "NoSuchUpload"
    status = 404


class BucketAlreadyOwnedByYou(S3Error):
    code = "BucketAlreadyOwnedByYou"
    status = 409


class BucketNotEmpty(S3Error):
    code = "BucketNotEmpty"
    status = 409


class InvalidArgument(S3Error):
    code = "InvalidArgument"


class InvalidRequest(S3Error):
    code = "InvalidRequest"


class MalformedXML(S3Error):
    code = "MalformedXML"


class BadDigest(S3Error):
    code = "BadDigest"


class InvalidDigest(S3Error):
    code = "InvalidDigest"


class ContentSHA256Mismatch(S3Error):
    code = "XAmzContentSHA256Mismatch"


class IncompleteBody(S3Error):
    code = "IncompleteBody"


class EntityTooLarge(S3Error):
    code = "EntityTooLarge"


class EntityTooSmall(S3Error):
    code = "EntityTooSmall"


class KeyTooLong(S3Error):
    code = "KeyTooLongError"


class InvalidPart(S3Error):
    code = "InvalidPart"


class InvalidPartOrder(S3Error):
    code = "InvalidPartOrder"


class InvalidRange(S3Error):
    code = "InvalidRange"
    status = 416


class PreconditionFailed(S3Error):
    code = "PreconditionFailed"
    status = 412


class MissingContentLength(S3Error):
    code = "MissingContentLength"
    status = 411


class AccessControlListNotSupported(S3Error):
    code = "AccessControlListNotSupported"


class InvalidPartNumber(S3Error):
    code = "InvalidPartNumber"
    status = 416


class MalformedACLError(S3Error):
    code = "MalformedACLError"


class BucketAlreadyExists(S3Error):
    code = "BucketAlreadyExists"
    status = 409


class S3AccessDenied(S3Error):
    code = "AccessDenied"
    status = 403


# --- the SageMaker runtime (InvokeEndpoint) ---------------------------------------------------


class ModelError(ClientError):
    """The model's container answered with an error; carries its status and message."""

    code = "ModelError"
    status = 424


class RuntimeValidationError(ClientError):
    """InvokeEndpoint's own validation code (the runtime API says ValidationError)."""

    code = "ValidationError"


class MethodNotAllowed(S3Error):
    code = "MethodNotAllowed"
    status = 405


class NotImplementedByCove(S3Error):
    code = "NotImplemented"
    status = 501


class NoSuchWebsiteConfiguration(S3Error):
    code = "NoSuchWebsiteConfiguration"
    status = 404


class NoSuchVersion(S3Error):
    code = "NoSuchVersion"
    status = 404


class NoSuchPublicAccessBlockConfiguration(S3Error):
    code = "NoSuchPublicAccessBlockConfiguration"
    status = 404


class OwnershipControlsNotFoundError(S3Error):
    code = "OwnershipControlsNotFoundError"
    status = 404


class UnresolvableGrantByEmailAddress(S3Error):
    code = "UnresolvableGrantByEmailAddress"


class UnexpectedContent(S3Error):
    code = "UnexpectedContent"


# --- Lambda and API Gateway (rest-json: the code travels in x-amzn-ErrorType) -----------------


class ResourceNotFoundException(ClientError):
    """Lambda's not-found (a function, a policy statement)."""

    code = "ResourceNotFoundException"
    status = 404


class ResourceConflictException(ClientError):
    code = "ResourceConflictException"
    status = 409


class InvalidParameterValue(ClientError):
    """Lambda's validation code (its requests are validated against the model, too)."""

    code = "InvalidParameterValueException"


class InvalidRequestContent(ClientError):
    code = "InvalidRequestContentException"


class RequestTooLarge(ClientError):
    code = "RequestTooLargeException"
    status = 413


class TooManyRequests(ClientError):
    """Over the concurrency limit (Lambda) or a stage's throttle (API Gateway)."""

    code = "TooManyRequestsException"
    status = 429


class NotFound(ClientError):
    """API Gateway v2's not-found."""

    code = "NotFoundException"
    status = 404


class BadRequest(ClientError):
    """API Gateway v2's validation code."""

    code = "BadRequestException"


class Conflict(ClientError):
    code = "ConflictException"
    status = 409


# --- IAM and authorization --------------------------------------------------------------------


class NoSuchEntity(ClientError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(ClientError):
    code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(ClientError):
    code = "DeleteConflict"
    status = 409


class MalformedPolicyDocument(ClientError):
    code = "MalformedPolicyDocument"


class InvalidInput(ClientError):
    code = "InvalidInput"


class AccessDenied(ClientError):
    """IAM did not allow the request (S3 and the query APIs answer 403 AccessDenied)."""

    code = "AccessDenied"
    status = 403
    protocol_codes = {"json": "AccessDeniedException", "rest-json": "AccessDeniedException"}


class AccessDeniedJson(AccessDenied):
    """The same in a JSON 1.1 API (SageMaker, CloudWatch Logs), which answer it with 400."""

    status = 400
