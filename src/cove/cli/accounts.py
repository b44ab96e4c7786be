"""``cove accounts``: other accounts that may use S3 (and only S3), to share buckets with by
ACL as with another AWS account."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cove.cli._client import cove_call

app = typer.Typer(no_args_is_help=True, help="Other accounts (S3 only): create and list them.")
console = Console()
HomeOption = Annotated[Path | None, typer.Option("--home", envvar="COVE_HOME",
                                                 help="Data directory (default: ~/.cove).")]


@app.command("create")
def create(name: str, home: HomeOption = None) -> None:
    """A new account with its own key pair; its secret is shown this once."""
    made = cove_call("CreateAccount", home, {"Name": name})
    console.print(f"account {made['Name']} ({made['AccountId']}), canonical user id "
                  f"{made['CanonicalUserId']}")
    console.print("Its keys (S3 only; grant it access with a bucket or object ACL):")
    print(f"export AWS_ACCESS_KEY_ID={made['AccessKeyId']}")
    print(f"export AWS_SECRET_ACCESS_KEY={made['SecretAccessKey']}")


@app.command("ls")
def list_accounts(home: HomeOption = None) -> None:
    """cove's own account and every other one."""
    table = Table("name", "account id", "canonical user id")
    for account in cove_call("ListAccounts", home)["Accounts"]:
        table.add_row(account["Name"], account["AccountId"], account["CanonicalUserId"])
    console.print(table)
