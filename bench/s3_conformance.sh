#!/usr/bin/env bash
# Runs the Ceph S3 conformance suite (ceph/s3-tests), limited to the features cove promises,
# against a fresh cove on a free loopback port; prints passed/failed/errors.
#
#   bench/s3_conformance.sh /path/to/s3-tests [extra pytest args...]
#
# The checkout needs its own venv with the suite's requirements plus pytest-timeout and
# pytest-xdist (default: <checkout>/.venv; set S3TESTS_PYTHON to use another interpreter).
# cove is started from this repository's .venv (set COVE_PYTHON to override).
set -euo pipefail

checkout=${1:?usage: $0 /path/to/s3-tests [pytest args...]}
shift
checkout=$(cd "$checkout" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cove_python=${COVE_PYTHON:-$repo/.venv/bin/python}
tests_python=${S3TESTS_PYTHON:-$checkout/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/cove-s3conf.XXXXXX")
home=$work/home
pid=""

cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"; wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$home"
# The suite was written for S3's defaults before April 2023 (ACLs on): new buckets get the
# ObjectWriter ownership here (cove's default is AWS's current one, BucketOwnerEnforced).
COVE_HOME=$home COVE_S3_OBJECT_OWNERSHIP=${COVE_S3_OBJECT_OWNERSHIP:-ObjectWriter} \
    "$cove_python" -m cove up --port 0 >"$work/cove.log" 2>&1 &
pid=$!
url=""
for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || { echo "cove exited:"; tail -40 "$work/cove.log"; exit 1; }
    url=$("$cove_python" - "$home" "$pid" <<'PY' || true
import json, sys, urllib.request
home, pid = sys.argv[1], int(sys.argv[2])
try:
    record = json.load(open(f"{home}/server.json"))
    assert record["pid"] == pid
    urllib.request.urlopen(record["url"] + "/_cove/health", timeout=2).read()
    print(record["url"])
except Exception:
    sys.exit(1)
PY
)
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "cove did not start"; tail -40 "$work/cove.log"; exit 1; }

port=${url##*:}
port=${port%%/*}
read -r access secret < <("$cove_python" -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["access_key_id"], c["secret_access_key"])' "$home/credentials.json")

# the suite's "alt" user is a second account (it owns its buckets, reaches ours by ACL)
read -r alt_access alt_secret alt_id < <("$cove_python" -c '
import sys
from pathlib import Path
from cove.cli._client import cove_call
a = cove_call("CreateAccount", Path(sys.argv[1]), {"Name": "alt"})
print(a["AccessKeyId"], a["SecretAccessKey"], a["CanonicalUserId"])' "$home")

cat >"$work/s3tests.conf" <<CONF
[DEFAULT]
host = 127.0.0.1
port = $port
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = cove-{random}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/

[s3 main]
display_name = cove
user_id = cove
email = cove@localhost
api_name = us-west-2
access_key = $access
secret_key = $secret

# the tenant user reuses the main key (cove has no tenants)
[s3 alt]
display_name = alt
user_id = $alt_id
email = alt@localhost
access_key = $alt_access
secret_key = $alt_secret

[s3 tenant]
display_name = cove
user_id = cove
email = cove@localhost
access_key = $access
secret_key = $secret
tenant = cove

[iam]
email = cove@localhost
user_id = cove
access_key = $access
secret_key = $secret
display_name = cove

[iam root]
access_key = $access
secret_key = $secret
user_id = cove
email = cove@localhost

[iam alt root]
access_key = $access
secret_key = $secret
user_id = cove
email = cove@localhost
CONF

markers="not (versioning or lifecycle or lifecycle_expiration or lifecycle_transition or object_lock or encryption or sse_s3 or bucket_encryption or bucket_policy or user_policy or role_policy or group_policy or session_policy or tagging or s3website or s3website_routing_rules or s3website_redirect_location or s3select or bucket_logging or bucket_logging_cleanup or storage_class or cloud_transition or cloud_restore or appendobject or abac_test or iam_account or iam_cross_account or iam_role or iam_tenant or iam_user or test_of_sts or webidentity_test or sns or fails_on_aws or fails_on_s3 or delete_marker or object_ownership or auth_aws2 or group or fails_with_subdomain)"
names="not acl and not policy and not cors and not versioning and not tagging and not lifecycle and not encryption and not sse and not object_lock and not website and not logging and not ownership and not public_access and not notification and not torrent and not anonymous and not alt_user and not tenant and not restore and not accelerate and not replication and not post_object and not raw_authenticated and not raw_get"

cd "$checkout"
set +e
S3TEST_CONF=$work/s3tests.conf "$tests_python" -m pytest s3tests/functional/test_s3.py \
    -m "$markers" -k "$names" -p no:cacheprovider --timeout "${TEST_TIMEOUT:-300}" -q -rfE \
    --junitxml "$work/junit.xml" "$@" >"$work/pytest.log" 2>&1
status=$?
set -e
grep -E "^(FAILED|ERROR) " "$work/pytest.log" || true
tail -1 "$work/pytest.log"
"$cove_python" - "$work/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in
                                    ("tests", "failures", "errors", "skipped"))
passed = tests - failures - errors - skipped
ran = tests - skipped
print(f"passed {passed}  failed {failures}  errors {errors}  skipped {skipped}  "
      f"({100 * passed / max(ran, 1):.1f}% of {ran})")
PY
if [[ -n "${KEEP_LOG:-}" ]]; then cp "$work/pytest.log" "$KEEP_LOG"; cp "$work/cove.log" "$KEEP_LOG.cove"; fi
exit $status
