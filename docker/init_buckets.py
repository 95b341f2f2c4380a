"""Create the lake and landing buckets on the S3-compatible store (compose `s3_init`).

Idempotent: an existing bucket is left alone. Settings from the same env vars
the platform reads (see .env.example).
"""

import os
import sys
import time

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError


def main() -> int:
    region = os.environ.get("LASCOPF_S3_REGION") or "us-east-1"
    client = boto3.client(
        "s3",
        endpoint_url=os.environ["LASCOPF_S3_ENDPOINT_URL"] or None,
        aws_access_key_id=os.environ["LASCOPF_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["LASCOPF_S3_SECRET_KEY"],
        region_name=region,
    )
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    buckets = {os.environ["LASCOPF_S3_BUCKET"], os.environ["LASCOPF_S3_LANDING_BUCKET"]}
    for _attempt in range(30):
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            break
        except (EndpointConnectionError, ClientError) as exc:
            print(f"waiting for the S3 endpoint ({exc.__class__.__name__})", flush=True)
            time.sleep(2)
    else:
        print("S3 endpoint did not answer in 60 s", file=sys.stderr)
        return 1
    for name in sorted(buckets - existing):
        client.create_bucket(Bucket=name, **location)
        print(f"created bucket {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
