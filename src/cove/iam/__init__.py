"""IAM: roles and policies bound what every non-root key may do.

The store (``Roles``), the policy engine (``parse_policy``/``evaluate``), the IAM and STS APIs,
and the edge's ``Authorizer``, which maps each request to its IAM action and resource.
"""

from cove.iam._api import IamApi
from cove.iam._managed import DEFAULT_ROLE_NAME, DEFAULT_ROLE_POLICY, MANAGED
from cove.iam._policy import Evaluation, Policy, evaluate, parse_policy, trusts
from cove.iam._roles import ManagedPolicy, Role, Roles, role_name_of
from cove.iam._sts import StsApi

__all__ = ["DEFAULT_ROLE_NAME", "DEFAULT_ROLE_POLICY", "MANAGED", "Evaluation", "IamApi",
           "ManagedPolicy", "Policy", "Role", "Roles", "StsApi", "evaluate", "parse_policy",
           "role_name_of", "trusts"]
