"""A local S3 server for the demo: moto's server mode on 127.0.0.1, with the bucket the
billing configuration names, for as long as a command runs.

    python -m bds_tools.demo_s3 --config include/config/demo.yaml --dir var/demo/s3 -- COMMAND ...

runs COMMAND with transmission switched on: ``BDS_CONFIG`` points at a copy of the
configuration with ``billing_server.transmit: true``, and ``AIRFLOW_CONN_BDS_S3`` at the
server (an ``aws`` connection whose ``endpoint_url`` extra is the server's address, as for
MinIO). The server keeps objects in memory: they are gone when COMMAND ends.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import yaml

# Placeholders for an in-memory test server, not secrets: moto accepts any key.
DEMO_ACCESS_KEY, DEMO_SECRET = "bds-demo", "bds-demo-secret"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bds_tools.demo_s3", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path, help="the billing configuration to transmit with")
    parser.add_argument("--dir", required=True, type=Path, help="where the transmitting configuration is written")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        raw = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        settings = raw.setdefault("billing_server", {})
        settings.update(transmit=True, bucket=settings.get("bucket") or "bds-billing")
        region = settings.get("region_name") or "us-east-1"
        boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=DEMO_ACCESS_KEY, aws_secret_access_key=DEMO_SECRET
        ).create_bucket(Bucket=settings["bucket"])
        args.dir.mkdir(parents=True, exist_ok=True)
        config = args.dir / "billing.yaml"
        config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        connection = {
            "conn_type": "aws",
            "login": DEMO_ACCESS_KEY,
            "password": DEMO_SECRET,
            "extra": {"endpoint_url": endpoint, "region_name": region},
        }
        print(f"Local S3 server (moto) at {endpoint}, bucket '{settings['bucket']}'; transmission on ({config})")
        env = os.environ | {
            "BDS_CONFIG": str(config.resolve()),
            "AIRFLOW_CONN_" + settings.get("aws_conn_id", "bds_s3").upper(): json.dumps(connection),
        }
        return subprocess.call(command, env=env)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
