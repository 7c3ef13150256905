"""A real S3-compatible server on loopback for Strata's cold-tier tests: moto's server mode.

Starts moto on 127.0.0.1 (port from argv[1], 0 for any free port), creates an IAM user with
an access key allowed every S3 action and a bucket (argv[2], default "strata-cold"), then
turns request authentication on, so a request signed with any other key or secret fails as
it would on AWS. Prints one JSON line to stdout:

    {"endpoint": "http://127.0.0.1:PORT", "bucket": ..., "access_key_id": ..., "secret_access_key": ...}

and serves until stdin closes or the process is killed.
"""

import json
import sys

import boto3
from moto import settings
from moto.server import ThreadedMotoServer

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    bucket = sys.argv[2] if len(sys.argv) > 2 else "strata-cold"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"

    # Set-up requests run before authentication is on (moto counts actions).
    admin = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="strata")
    iam.put_user_policy(
        UserName="strata", PolicyName="s3", PolicyDocument=json.dumps(POLICY)
    )
    key = iam.create_access_key(UserName="strata")["AccessKey"]
    boto3.client("s3", **admin).create_bucket(Bucket=bucket)
    # From here on every request must be signed with the user's key.
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "bucket": bucket,
                "access_key_id": key["AccessKeyId"],
                "secret_access_key": key["SecretAccessKey"],
            }
        ),
        flush=True,
    )
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
