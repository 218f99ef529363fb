"""Start a catalog's poll from a Python backend (boto3), with the same execution-name
rule as the Rust `catalog-poller` (crates/catalog-poller/src/execution_name.rs).

Needs states:DescribeExecution on the state machine's executions and
states:StartExecution on the state machine. Region, credentials and AWS_ENDPOINT_URL come
from the standard boto3 chain. Run it as a script to try it:

    CATALOG_POLLER_STEP_FUNCTION_ARN=arn:aws:states:... python start_poll.py cat-123
"""

import hashlib
import json
import os
import re
import sys
import unicodedata

import boto3

_NOT_LOG_FRIENDLY = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(catalog_id: str, run: int = 1) -> str:
    """catalog-<first 40 characters, unsafe ones as _>-<24 hex digits of SHA-256(id)>[-r<run>]."""
    readable = _NOT_LOG_FRIENDLY.sub("_", catalog_id[:40])
    digest = hashlib.sha256(catalog_id.encode("utf-8")).hexdigest()[:24]
    name = f"catalog-{readable}-{digest}"
    return name if run == 1 else f"{name}-r{run}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:<partition>:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>"""
    parts = state_machine_arn.split(":")
    return ":".join(parts[:5] + ["execution", parts[6], name])


def start_poll(sfn, state_machine_arn: str, catalog_id: str, poll_interval_seconds=None, max_attempts=None) -> dict:
    """Starts the catalog's poll. A catalog that already has an execution (running, or
    closed in the last 90 days) is reported, not started again."""
    # The contract's id rule (catalog_core::CatalogId): 1..128 code points, no control character.
    if not 1 <= len(catalog_id) <= 128 or any(unicodedata.category(c) == "Cc" for c in catalog_id):
        raise ValueError("catalog_id must have 1 to 128 characters and no control character")
    name = execution_name(catalog_id)
    arn = execution_arn(state_machine_arn, name)
    try:
        existing = sfn.describe_execution(executionArn=arn)
        return {"outcome": "already_exists", "execution_name": name, "execution_arn": arn, "status": existing["status"]}
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    execution_input = {"catalog_id": catalog_id}
    if poll_interval_seconds is not None:
        execution_input["poll_interval_seconds"] = poll_interval_seconds
    if max_attempts is not None:
        execution_input["max_attempts"] = max_attempts
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
        return {"outcome": "started", "execution_name": name, "execution_arn": started["executionArn"]}
    except sfn.exceptions.ExecutionAlreadyExists:  # started by someone else meanwhile
        existing = sfn.describe_execution(executionArn=arn)
        return {"outcome": "already_exists", "execution_name": name, "execution_arn": arn, "status": existing["status"]}


if __name__ == "__main__":
    result = start_poll(boto3.client("stepfunctions"), os.environ["CATALOG_POLLER_STEP_FUNCTION_ARN"], sys.argv[1])
    print(json.dumps(result))
