"""Every table of cove's metadata database, in one place.

A row holds what the matching Describe/Head call returns.  Each change to these tables bumps
``SCHEMA_VERSION`` and adds a step to ``cove.meta._database.MIGRATIONS``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 10

#: Object keys sort by code point (= UTF-8 bytes), as S3 lists them: SQLite's default BINARY
#: collation does that; PostgreSQL needs the "C" collation.
KeyText = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

# --- object store ---------------------------------------------------------------------------

buckets = Table(
    "buckets",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("created", Float, nullable=False),
)

#: One row per visible object.  ``parts`` lists the blobs that hold its bytes, in order:
#: ``[[blob_id, size], ...]`` (one entry for a simple PUT, one per part after a multipart
#: upload, so completing an upload moves no bytes).
objects = Table(
    "objects",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("key", KeyText, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", JSON, nullable=False),  # Content-Encoding, Cache-Control, ...
    Column("user_metadata", JSON, nullable=False),
    Column("checksum", JSON, nullable=False),  # {"algorithm": ..., "value": ..., "type": ...}
    Column("parts", JSON, nullable=False),
    # "null" unless written while the bucket's versioning was enabled
    Column("version_id", String(64), nullable=False, server_default="null"),
    sqlite_with_rowid=False,
)

multipart_uploads = Table(
    "multipart_uploads",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("bucket", String(63), nullable=False, index=True),
    Column("key", KeyText, nullable=False),
    Column("initiated", Float, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("user_metadata", JSON, nullable=False),
    Column("checksum_algorithm", String(16), nullable=False),
    Column("checksum_type", String(16), nullable=False),
    #: who initiated the upload and the ACL the object gets ({"owner": ..., "grants": ...});
    #: NULL: the bucket owner, private (every upload before schema 10)
    Column("acl", JSON, nullable=True),
)

multipart_parts = Table(
    "multipart_parts",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("part_number", Integer, primary_key=True),
    Column("blob_id", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("checksum", Text, nullable=False),
    Column("last_modified", Float, nullable=False),
)

# --- logs (the CloudWatch Logs API) ---------------------------------------------------------

log_groups = Table(
    "log_groups",
    metadata,
    Column("name", String(512), primary_key=True),
    Column("created", BigInteger, nullable=False),  # epoch milliseconds, as the Logs API
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("group_name", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("created", BigInteger, nullable=False),
    Column("first_event", BigInteger),
    Column("last_event", BigInteger),
    Column("last_ingestion", BigInteger),
    Column("stored_bytes", BigInteger, nullable=False, default=0),
)

log_events = Table(
    "log_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_name", String(512), nullable=False),
    Column("stream_name", String(512), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("ingestion_time", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Index("log_events_by_stream", "group_name", "stream_name", "timestamp", "id"),
)

# --- SageMaker resources ----------------------------------------------------------------------

#: One row per training job; ``describe`` is exactly what DescribeTrainingJob returns.
training_jobs = Table(
    "training_jobs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

#: One row per processing job; ``describe`` is exactly what DescribeProcessingJob returns (v7).
processing_jobs = Table(
    "processing_jobs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

#: Every metric value a training job emitted, with when (and at which step) it was seen.
training_metrics = Table(
    "training_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_name", String(63), nullable=False),
    Column("metric_name", String(255), nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("value", Float, nullable=False),
    Column("step", Integer),
    Index("training_metrics_by_job", "job_name", "metric_name", "id"),
)

#: Tags of any SageMaker resource, by ARN (AddTags / ListTags / DeleteTags).
tags = Table(
    "tags",
    metadata,
    Column("arn", String(256), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

#: Access keys cove hands to the code it runs (training jobs, functions): scoped to their owner,
#: revoked when the owner ends.  The root key pair lives in credentials.json, not here.
access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("secret_access_key", String(64), nullable=False),
    Column("owner", String(256), nullable=False, index=True),
    Column("created", Float, nullable=False),
)

#: Models, endpoint configurations and endpoints: ``describe`` is what their Describe returns.
models = Table(
    "models",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

endpoint_configs = Table(
    "endpoint_configs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("status", String(32), nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("describe", JSON, nullable=False),
    #: Invocations so far and the last one (epoch seconds), flushed from memory every second.
    Column("invocations", BigInteger, nullable=False, default=0),
    Column("last_invocation", Float),
)

#: One row per hyperparameter tuning job; ``describe`` is what DescribeHyperParameterTuningJob
#: returns.
tuning_jobs = Table(
    "tuning_jobs",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

#: The trials of a tuning job — its Optuna study, durably: each trial's parameters in Optuna's
#: own (internal) representation and what became of it.  The training job row holds the rest
#: (status, metrics, objective); on start cove rebuilds each study from these rows.
tuning_trials = Table(
    "tuning_trials",
    metadata,
    Column("tuning_job", String(32), primary_key=True),
    Column("number", Integer, primary_key=True),  # 1-based, the NNN in the job's name
    Column("training_job", String(63), nullable=False, unique=True),
    Column("params", JSON, nullable=False),
    #: running | complete | pruned (stopped early by the tuner) | failed | retried
    Column("state", String(16), nullable=False),
)

#: One row per batch transform job; ``describe`` is exactly what DescribeTransformJob returns.
#: Progress lives beside it (the API has no field for it; ``cove transforms`` shows it): records
#: and objects done so far, and the totals once counted (NULL until then).
transform_jobs = Table(
    "transform_jobs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified", Float, nullable=False),
    Column("describe", JSON, nullable=False),
    Column("records_done", BigInteger, nullable=False, default=0),
    Column("records_total", BigInteger),
    Column("objects_done", Integer, nullable=False, default=0),
    Column("objects_total", Integer),
)

#: Buckets served as static websites (PutBucketWebsite): only these are readable without a
#: signature, at ``/site/<bucket>/``.
bucket_websites = Table(
    "bucket_websites",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("index_document", Text, nullable=False),
    Column("error_document", Text),
)

#: A bucket's settings beyond its name and region, one row per setting it has: ``versioning``
#: ("Enabled" / "Suspended"; no row: never enabled), ``publicAccessBlock`` (the four flags).
bucket_settings = Table(
    "bucket_settings",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("value", JSON, nullable=False),
)

#: An object version's owner and ACL when they are not the default (the bucket owner, private):
#: only buckets whose Object Ownership lets ACLs apply have rows.  Every write of a version
#: replaces its row in the write's own transaction.
object_acls = Table(
    "object_acls",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("key", KeyText, primary_key=True),
    Column("version_id", String(64), primary_key=True),
    Column("acl", JSON, nullable=False),  # {"owner": canonical id, "grants": [[grantee, perm]]}
    sqlite_with_rowid=False,
)

#: Other AWS accounts that may sign S3 requests (and only S3 requests): each owns the buckets
#: it creates, and reaches others' only through their ACLs, as a second AWS account does.
s3_accounts = Table(
    "s3_accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False, unique=True),
    Column("canonical_id", String(64), nullable=False, unique=True),
    Column("access_key_id", String(32), nullable=False, unique=True),
    Column("secret_access_key", String(64), nullable=False),
    Column("created", Float, nullable=False),
)

#: The noncurrent versions and delete markers of objects in buckets that have had versioning
#: enabled (the current version stays in ``objects``); ``seq`` orders a key's versions, the
#: highest being the newest.
object_versions = Table(
    "object_versions",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("key", KeyText, primary_key=True),
    Column("version_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("delete_marker", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("user_metadata", JSON, nullable=False),
    Column("checksum", JSON, nullable=False),
    Column("parts", JSON, nullable=False),
    sqlite_with_rowid=False,
)

#: Lambda functions: ``configuration`` is what GetFunctionConfiguration returns; the code is
#: ``$COVE_HOME/functions/code/<code_sha>.zip``; ``access_key_id`` names the scoped key pair in
#: ``access_keys`` that the function's workers sign with.
functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("configuration", JSON, nullable=False),
    Column("code_sha", String(64), nullable=False),
    Column("access_key_id", String(32), nullable=False),
    Column("policy", JSON, nullable=False),
    Column("created", Float, nullable=False),
)

#: HTTP APIs (API Gateway v2): ``describe`` is what GetApi returns.
gateway_apis = Table(
    "gateway_apis",
    metadata,
    Column("api_id", String(16), primary_key=True),
    Column("created", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

#: An API's integrations, routes and stages (``kind``), each as its Get* document.
gateway_parts = Table(
    "gateway_parts",
    metadata,
    Column("api_id", String(16), primary_key=True),
    Column("kind", String(16), primary_key=True),  # integration | route | stage
    Column("part_id", String(128), primary_key=True),
    Column("created", Float, nullable=False),
    Column("describe", JSON, nullable=False),
)

#: Notebook instances: ``describe`` is what DescribeNotebookInstance returns; ``token`` logs a
#: browser into the instance's JupyterLab (CreatePresignedNotebookInstanceUrl), ``pid`` is its
#: server process while one runs (so a restarted cove can end one a crash left behind).
notebook_instances = Table(
    "notebook_instances",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified", Float, nullable=False),
    Column("describe", JSON, nullable=False),
    Column("token", String(128), nullable=False),
    Column("port", Integer),
    Column("pid", Integer),
)

# --- console (v4) ------------------------------------------------------------------------------

#: Requests per endpoint variant in 10-second buckets: counts, errors and a latency histogram
#: (counts per ``cove.hosting._traffic.LATENCY_BOUNDS`` bucket, so windows merge exactly).
endpoint_traffic = Table(
    "endpoint_traffic",
    metadata,
    Column("endpoint", String(63), primary_key=True),
    Column("variant", String(63), primary_key=True),
    Column("start", Float, primary_key=True),
    Column("invocations", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("latency", JSON, nullable=False),
)

#: What happened to each endpoint's deployment, oldest first: created with a configuration,
#: InService, updated to another configuration (or rolled back), weights changed, stopped.
#: The console shows it as the endpoint's configuration history; DeleteEndpoint clears it.
endpoint_events = Table(
    "endpoint_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(63), nullable=False, index=True),
    Column("time", Float, nullable=False),
    Column("event", String(32), nullable=False),
    Column("config_name", String(63), nullable=False),
    Column("detail", Text, nullable=False),
)

#: Signed-in console sessions: the cookie carries ``id`` (HMAC-signed); sign-out deletes the row.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
)

#: One-time sign-in links already used (their nonce), kept until the link would have expired.
console_used_links = Table(
    "console_used_links",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires", Float, nullable=False),
)

# --- model registry -------------------------------------------------------------------------

#: Model package groups; ``record`` holds the rest of the group's record (``registry._rows``).
model_package_groups = Table(
    "model_package_groups",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("creation_time", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("record", JSON, nullable=False),
)

#: Model packages: versions in a group (``group_name`` and ``version`` set) and unversioned
#: packages (both null).  ARNs carry lower-cased names, as SageMaker's do.
model_packages = Table(
    "model_packages",
    metadata,
    Column("arn", String(256), primary_key=True),
    Column("name", String(63), nullable=False),
    Column("group_name", String(63), index=True),
    Column("version", Integer),
    Column("creation_time", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("approval", String(32)),
    Column("record", JSON, nullable=False),
    Index("model_packages_group_version", "group_name", "version", unique=True),
)

# --- pipelines ------------------------------------------------------------------------------

#: Pipelines; ``record`` holds the rest of the record (``pipelines._store``).
pipelines = Table(
    "pipelines",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("creation_time", Float, nullable=False),
    Column("record", JSON, nullable=False),
)

pipeline_executions = Table(
    "pipeline_executions",
    metadata,
    Column("arn", String(256), primary_key=True),
    Column("pipeline", String(256), nullable=False, index=True),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False),
    Column("record", JSON, nullable=False),
)

#: The latest attempt of each step of each execution.
pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("execution_arn", String(256), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("cache_key", String(64), nullable=False, index=True),
    Column("record", JSON, nullable=False),
)

# --- IAM (v8) ----------------------------------------------------------------------------------

#: Roles: ``trust_policy`` is the AssumeRolePolicyDocument (JSON text, as given).
iam_roles = Table(
    "iam_roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("max_session_duration", Integer, nullable=False),
    Column("created", Float, nullable=False),
)

#: Inline policies of roles (PutRolePolicy).
iam_role_policies = Table(
    "iam_role_policies",
    metadata,
    Column("role", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

#: Customer-managed policies (CreatePolicy), one version each (v1).  AWS-managed ones are code
#: (``cove.iam._managed``), not rows.
iam_policies = Table(
    "iam_policies",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("policy_id", String(32), nullable=False),
    Column("path", String(512), nullable=False),
    Column("description", Text, nullable=False),
    Column("document", Text, nullable=False),
    Column("created", Float, nullable=False),
)

#: Managed policies attached to roles (AttachRolePolicy), AWS-managed or customer-managed.
iam_attachments = Table(
    "iam_attachments",
    metadata,
    Column("role", String(64), primary_key=True),
    Column("policy_arn", String(512), primary_key=True),
)

#: Which role a scoped access key acts for, and until when (NULL: until revoked).  A key with
#: no row here (issued before v5) acts for the default role.
access_key_roles = Table(
    "access_key_roles",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("role", String(64), nullable=False),
    Column("session", String(64), nullable=False),
    Column("expires", Float),
)
