"""``cove demo``: the main job, end to end, on data it makes itself."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from rich.console import Console

from cove.config import Config

DEMO_BUCKET = "cove-demo"


def run_demo(config: Config, console: Console) -> None:
    from cove.cli import start_detached

    record = start_detached(config)
    creds = config.credentials()
    s3 = boto3.client("s3", endpoint_url=record["url"], region_name=config.region,
                      aws_access_key_id=creds.access_key_id,
                      aws_secret_access_key=creds.secret_access_key,
                      config=BotoConfig(s3={"addressing_style": "path"}))
    console.print(f"[bold]1.[/] cove is running at {record['url']}")
    if DEMO_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=DEMO_BUCKET)
    console.print(f"[bold]2.[/] bucket s3://{DEMO_BUCKET} is ready")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hello.csv"
        path.write_text("review,sentiment\n\"A warm, funny film.\",positive\n"
                        "\"Two hours I will never get back.\",negative\n")
        key = f"demo/hello-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        s3.upload_file(str(path), DEMO_BUCKET, key)
    console.print(f"[bold]3.[/] uploaded s3://{DEMO_BUCKET}/{key}")
    listing = s3.list_objects_v2(Bucket=DEMO_BUCKET, Prefix="demo/")
    for item in listing.get("Contents", []):
        console.print(f"    {item['LastModified']:%Y-%m-%d %H:%M:%S}  {item['Size']:>6}  "
                      f"{item['Key']}")
    console.print("[bold]4.[/] point your own tools at cove with:")
    from cove.cli import env

    env(config.home)
    console.print("\ncove keeps running in the background; `cove down` stops it.")
