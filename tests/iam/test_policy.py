"""The policy engine against the evaluation examples in AWS's IAM documentation (the policies and
the outcomes the documentation states), plus the edges of the condition grammar."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cove.errors import MalformedPolicyDocument
from cove.iam import evaluate, parse_policy, trusts


def policy(*statements: dict[str, Any], name: str = "p") -> Any:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
                        name)


# "The difference between explicit and implicit denies": AllowGetList + DenyReports.
IAM_READ_NO_REPORTS = policy(
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"],
     "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"})

# "IAM JSON policy elements: NotAction": all of S3 on any S3 resource except DeleteBucket; this
# does not allow ListAllMyBuckets, whose resource is "*".
S3_EXCEPT_DELETE_BUCKET = policy(
    {"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"})

# "NotAction with Deny": deny everything outside IAM unless MFA is present (here: a Bool key).
DENY_OUTSIDE_IAM_WITHOUT_TLS = policy(
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}})

# "Amazon S3: Allows IAM users access to their S3 home directory" (with the prefix condition).
HOME_FOLDER = policy(
    {"Sid": "ListRootAndHome", "Effect": "Allow", "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
     "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/alice/*"]}}},
    {"Sid": "HomeObjects", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/home/alice",
                  "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/*"]})

# "NotResource": allow everything except the one bucket's objects.
NOT_RESOURCE = policy(
    {"Effect": "Allow", "Action": "s3:*", "NotResource": [
        "arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})

CASES = [
    (IAM_READ_NO_REPORTS, "iam:GetRole", "*", {}, "allowed"),
    (IAM_READ_NO_REPORTS, "iam:listroles", "*", {}, "allowed"),  # actions ignore case
    (IAM_READ_NO_REPORTS, "iam:CreatePolicy", "*", {}, "implicitDeny"),
    (IAM_READ_NO_REPORTS, "iam:GetOrganizationsAccessReport", "*", {}, "explicitDeny"),
    (IAM_READ_NO_REPORTS, "iam:GetCredentialReport", "*", {}, "explicitDeny"),
    (S3_EXCEPT_DELETE_BUCKET, "s3:GetObject", "arn:aws:s3:::b/k", {}, "allowed"),
    (S3_EXCEPT_DELETE_BUCKET, "s3:DeleteBucket", "arn:aws:s3:::b", {}, "implicitDeny"),
    (S3_EXCEPT_DELETE_BUCKET, "s3:ListAllMyBuckets", "*", {}, "implicitDeny"),
    (S3_EXCEPT_DELETE_BUCKET, "sagemaker:CreateModel", "*", {}, "implicitDeny"),
    (DENY_OUTSIDE_IAM_WITHOUT_TLS, "s3:GetObject", "arn:aws:s3:::b/k",
     {"aws:securetransport": ["false"]}, "explicitDeny"),
    (DENY_OUTSIDE_IAM_WITHOUT_TLS, "iam:GetRole", "*", {"aws:securetransport": ["false"]},
     "allowed"),
    (DENY_OUTSIDE_IAM_WITHOUT_TLS, "s3:GetObject", "arn:aws:s3:::b/k",
     {"aws:securetransport": ["true"]}, "allowed"),
    (HOME_FOLDER, "s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket", {"s3:prefix": [""]},
     "allowed"),
    (HOME_FOLDER, "s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket",
     {"s3:prefix": ["home/alice/photos/"]}, "allowed"),
    (HOME_FOLDER, "s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket",
     {"s3:prefix": ["home/bob/"]}, "implicitDeny"),
    (HOME_FOLDER, "s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket", {}, "implicitDeny"),
    (HOME_FOLDER, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/a.txt", {},
     "allowed"),
    (HOME_FOLDER, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/a.txt", {},
     "implicitDeny"),
    (NOT_RESOURCE, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2024.csv", {},
     "implicitDeny"),
    (NOT_RESOURCE, "s3:GetObject", "arn:aws:s3:::HRBucket/Other", {}, "allowed"),
    (NOT_RESOURCE, "s3:GetObject", "arn:aws:s3:::hrbucket/Payroll/x", {}, "allowed"),
]


@pytest.mark.parametrize(("doc", "action", "resource", "context", "expected"), CASES)
def test_documented_examples(doc: Any, action: str, resource: str,
                             context: dict[str, list[str]], expected: str) -> None:
    assert evaluate([doc], action, resource, context).decision == expected


def cond(block: dict[str, Any]) -> Any:
    return policy({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",
                   "Condition": block})


CONDITIONS = [
    ({"StringEquals": {"s3:prefix": ["a/", "b/"]}}, {"s3:prefix": ["b/"]}, True),  # values: OR
    ({"StringEquals": {"s3:prefix": "a/"}}, {"s3:prefix": ["A/"]}, False),  # case-sensitive
    ({"StringEqualsIgnoreCase": {"s3:prefix": "a/"}}, {"s3:prefix": ["A/"]}, True),
    ({"StringEquals": {"s3:prefix": "a/"}}, {}, False),  # absent key: no match
    ({"StringNotEquals": {"s3:prefix": ["a/", "b/"]}}, {"s3:prefix": ["b/"]}, False),  # NOR
    ({"StringNotEquals": {"s3:prefix": ["a/", "b/"]}}, {"s3:prefix": ["c/"]}, True),
    ({"StringNotEquals": {"s3:prefix": "a/"}}, {}, True),  # negated, absent: true (AWS)
    ({"StringLike": {"s3:prefix": "data/??/*"}}, {"s3:prefix": ["data/01/x"]}, True),
    ({"StringLike": {"s3:prefix": "data/??/*"}}, {"s3:prefix": ["data/001/x"]}, False),
    ({"StringNotLike": {"s3:prefix": "secret*"}}, {"s3:prefix": ["secretary"]}, False),
    ({"StringEqualsIfExists": {"s3:prefix": "a/"}}, {}, True),
    ({"StringEqualsIfExists": {"s3:prefix": "a/"}}, {"s3:prefix": ["b/"]}, False),
    ({"Null": {"s3:delimiter": "true"}}, {}, True),
    ({"Null": {"s3:delimiter": "false"}}, {}, False),
    ({"Null": {"s3:delimiter": "false"}}, {"s3:delimiter": ["/"]}, True),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, True),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, False),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["11"]}, True),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["9"]}, False),
    ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["ten"]}, False),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["9"]}, True),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": ["true"]}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": ["false"]}, False),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:*:training-job/run-*"}},
     {"aws:sourcearn": ["arn:aws:sagemaker:us-east-1:123456789012:training-job/run-7"]}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:*:training-job/run-*"}},
     {"aws:sourcearn": ["arn:aws:sagemaker:us-east-1:123456789012:model/run-7"]}, False),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/a"}},
     {"aws:principalarn": ["arn:aws:iam::123456789012:role/a"]}, True),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin*"}},
     {"aws:principalarn": ["arn:aws:iam::123456789012:role/adminX"]}, False),
    # multivalued keys
    ({"ForAnyValue:StringEquals": {"aws:CalledVia": ["a", "b"]}},
     {"aws:calledvia": ["c", "b"]}, True),
    ({"ForAnyValue:StringEquals": {"aws:CalledVia": ["a"]}}, {}, False),
    ({"ForAllValues:StringEquals": {"aws:CalledVia": ["a", "b"]}},
     {"aws:calledvia": ["a", "b"]}, True),
    ({"ForAllValues:StringEquals": {"aws:CalledVia": ["a", "b"]}},
     {"aws:calledvia": ["a", "c"]}, False),
    ({"ForAllValues:StringEquals": {"aws:CalledVia": ["a"]}}, {}, True),  # empty set: true
    ({"ForAnyValue:StringNotLike": {"aws:CalledVia": ["a*"]}},
     {"aws:calledvia": ["ab", "xy"]}, True),
    # keys within an operator AND; operators AND
    ({"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}}, {"s3:prefix": ["a/"]}, False),
    ({"StringEquals": {"s3:prefix": "a/"}, "StringLike": {"s3:delimiter": "*"}},
     {"s3:prefix": ["a/"], "s3:delimiter": ["/"]}, True),
    # key names ignore case
    ({"StringEquals": {"S3:Prefix": "a/"}}, {"s3:prefix": ["a/"]}, True),
]


@pytest.mark.parametrize(("block", "context", "allowed"), CONDITIONS)
def test_conditions(block: dict[str, Any], context: dict[str, list[str]],
                    allowed: bool) -> None:
    decision = evaluate([cond(block)], "s3:ListBucket", "arn:aws:s3:::b", context).decision
    assert decision == ("allowed" if allowed else "implicitDeny")


def test_deny_in_one_policy_beats_allow_in_another() -> None:
    allow = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, name="a")
    deny = policy({"Effect": "Deny", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::b/*"},
                  name="d")
    result = evaluate([allow, deny], "s3:DeleteObject", "arn:aws:s3:::b/k")
    assert result.decision == "explicitDeny" and result.matched == (("d", ""),)
    assert evaluate([allow, deny], "s3:DeleteObject", "arn:aws:s3:::c/k").decision == "allowed"


def test_resource_wildcards_match_within_the_arn_segments() -> None:
    p = policy({"Effect": "Allow", "Action": "sagemaker:*",
                "Resource": "arn:aws:sagemaker:*:*:training-job/team-?-*"})
    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/team-a-run"
    assert evaluate([p], "sagemaker:DescribeTrainingJob", job).decision == "allowed"
    assert evaluate([p], "sagemaker:DescribeTrainingJob",
                    job.replace("team-a", "team-ab")).decision == "implicitDeny"
    # '*' in the region segment does not reach across ':' into the resource
    assert evaluate([p], "sagemaker:DescribeModel",
                    "arn:aws:sagemaker:us-east-1:1:model/training-job/team-a-x"
                    ).decision == "implicitDeny"


MALFORMED = [
    ("not json", "not valid JSON"),
    ('{"Statement": []}', "no statements"),
    ('{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", '
     '"Resource": "*"}}', "Version"),
    ('{"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}', "Effect"),
    ('{"Statement": {"Effect": "Allow", "Resource": "*"}}', "Action and NotAction"),
    ('{"Statement": {"Effect": "Allow", "Action": "*"}}', "Resource and NotResource"),
    ('{"Statement": {"Effect": "Allow", "Action": "s3 Get", "Resource": "*"}}',
     "service:Operation"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "bucket"}}', "ARN"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
     '"Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}}}',
     "DateLessThan"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
     '"Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}}}}',
     "aws:PrincipalTag/team"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
     '"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}', "IpAddress"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
     '"Condition": {"NumericLessThan": {"s3:max-keys": "ten"}}}}', "numbers"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
     '"Condition": {"Null": {"s3:prefix": "maybe"}}}}', "true"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
     '"Principal": "*"}}', "Principal"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::${aws:username}"'
     "}}", "policy variables"),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Bogus": 1}}', "Bogus"),
]


@pytest.mark.parametrize(("document", "says"), MALFORMED)
def test_malformed_documents_are_refused_with_a_reason(document: str, says: str) -> None:
    with pytest.raises(MalformedPolicyDocument, match=None) as info:
        parse_policy(document)
    assert says in info.value.message


def test_trust_policies() -> None:
    trust = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
         "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}]}),
        trust=True)
    assert trusts(trust, "Service", "sagemaker.amazonaws.com")
    assert not trusts(trust, "Service", "lambda.amazonaws.com")
    assert trusts(trust, "AWS", "arn:aws:iam::123456789012:root")
    assert not trusts(trust, "AWS", "arn:aws:iam::210987654321:root")
    with pytest.raises(MalformedPolicyDocument):
        parse_policy('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", '
                     '"Resource": "*"}}', trust=True)
