"""The AWS-managed policies cove ships, written in cove's terms: what they allow of the services
cove serves.  Their ARNs are AWS's (``arn:aws:iam::aws:policy/...``) so scripts that attach them
work unchanged; the documents are smaller than AWS's because cove has fewer services."""

from __future__ import annotations

import json
from typing import Any

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def _allow(actions: list[str], resources: list[str] | str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


#: name -> (path, description, document)
MANAGED: dict[str, tuple[str, str, str]] = {
    "AmazonSageMakerFullAccess": (
        "/", "Full access to SageMaker, and to the S3 objects, logs and functions its jobs use",
        _doc(_allow(["sagemaker:*"]),
             _allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                     "s3:AbortMultipartUpload"],
                    ["arn:aws:s3:::*SageMaker*", "arn:aws:s3:::*Sagemaker*",
                     "arn:aws:s3:::*sagemaker*"]),
             _allow(["s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket",
                     "s3:ListAllMyBuckets"]),
             _allow(["logs:CreateLogDelivery", "logs:CreateLogGroup", "logs:CreateLogStream",
                     "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:GetLogEvents",
                     "logs:PutLogEvents", "logs:FilterLogEvents"]),
             _allow(["lambda:InvokeFunction"], ["arn:aws:lambda:*:*:function:*SageMaker*",
                                                "arn:aws:lambda:*:*:function:*sagemaker*",
                                                "arn:aws:lambda:*:*:function:*Sagemaker*"]),
             _allow(["iam:GetRole", "iam:ListRoles", "sts:GetCallerIdentity"]),
             {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/*",
              "Condition": {"StringEquals": {"iam:PassedToService":
                                             "sagemaker.amazonaws.com"}}})),
    "AmazonS3FullAccess": (
        "/", "Provides full access to all buckets", _doc(_allow(["s3:*"]))),
    "AmazonS3ReadOnlyAccess": (
        "/", "Provides read only access to all buckets",
        _doc(_allow(["s3:Get*", "s3:List*"]))),
    "CloudWatchLogsFullAccess": (
        "/", "Provides full access to CloudWatch Logs", _doc(_allow(["logs:*"]))),
    "AWSLambdaBasicExecutionRole": (
        "/service-role/", "Provides write permissions to CloudWatch Logs",
        _doc(_allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]))),
    "AWSLambda_FullAccess": (
        "/", "Full access to Lambda", _doc(_allow(["lambda:*"]))),
    "AmazonAPIGatewayAdministrator": (
        "/", "Full access to API Gateway", _doc(_allow(["apigateway:*"]))),
}


def managed_arn(name: str) -> str:
    path = MANAGED[name][0]
    return f"{AWS_POLICY_PREFIX}{path.lstrip('/')}{name}"


#: The policy of the default execution role, ``CoveExecutionRole``: broad, so every flow works
#: out of the box (jobs read and write any bucket, create models, log, call functions).  Narrow
#: it with PutRolePolicy / DeleteRolePolicy, or name a narrower role in your jobs.
DEFAULT_ROLE_NAME = "CoveExecutionRole"
DEFAULT_ROLE_POLICY_NAME = "CoveExecutionPolicy"
DEFAULT_ROLE_POLICY = _doc(
    {"Sid": "ObjectsJobsAndLogs", "Effect": "Allow",
     "Action": ["s3:*", "sagemaker:*", "logs:*"], "Resource": "*"},
    # notebooks build web apps: functions and HTTP APIs (tutorial 07)
    {"Sid": "FunctionsAndApis", "Effect": "Allow", "Action": ["lambda:*", "apigateway:*"],
     "Resource": "*"},
    {"Sid": "WhoAmIAndRoles", "Effect": "Allow",
     "Action": ["sts:GetCallerIdentity", "sts:AssumeRole", "iam:GetRole", "iam:ListRoles",
                "iam:PassRole", "iam:SimulatePrincipalPolicy"], "Resource": "*"},
    # What SDK v3's ModelTrainer/ModelBuilder simulate before they use a role (a SageMaker
    # execution role's VPC, metrics and image-pull actions); cove has none of these services,
    # so granting them grants nothing else.
    {"Sid": "WhatSageMakerRolesHold", "Effect": "Allow",
     "Action": ["cloudwatch:PutMetricData", "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability", "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets", "ec2:DescribeVpcs"], "Resource": "*"})
