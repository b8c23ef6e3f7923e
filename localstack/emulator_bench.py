"""Prints the emulator's TransactWriteItems cost by table size, moto's own rollback
against the emulator's item-level rollback (`emulator.install_item_level_rollback`).

Each transaction is shaped like a job's registration: a conditional put of a new item
and an update of a shared counter item. Runs in-process with moto's mock, so the figures
are the backend's cost without HTTP; they are milliseconds on this machine, so compare
the two columns and the growth down each column rather than the absolute numbers.

With `--stream` the table has a stream (new and old images), as with
`JOBS_COUNTERS=stream`: both rollbacks must then also take back the stream records.

Usage: python emulator_bench.py [--stream] [SIZE...]   (default 36 500 2000)
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator  # noqa: E402
from emulator_test import client  # noqa: E402
from moto import mock_aws  # noqa: E402

TRANSACTIONS = 40


STREAM = "--stream" in sys.argv


def fill(ddb, size):
    extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if STREAM else {}
    ddb.create_table(
        TableName="jobs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    for start in range(0, size, 25):
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": f"job#{i}"}, "status": {"S": "SUCCEEDED"},
                                     "input": {"S": "x" * 200}}}}
            for i in range(start, min(size, start + 25))
        ]
        ddb.batch_write_item(RequestItems={"jobs": batch})


def per_transaction_ms(size, item_level):
    (emulator.install_item_level_rollback if item_level else emulator.uninstall_item_level_rollback)()
    try:
        with mock_aws():
            ddb = client()
            fill(ddb, size)
            started = time.perf_counter()
            for i in range(TRANSACTIONS):
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "jobs", "Item": {"pk": {"S": f"new#{i}"}, "status": {"S": "QUEUED"}},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Update": {"TableName": "jobs", "Key": {"pk": {"S": "counters"}},
                                "UpdateExpression": "ADD submitted :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                ])
            return (time.perf_counter() - started) * 1000 / TRANSACTIONS
    finally:
        emulator.uninstall_item_level_rollback()


def main():
    sizes = [int(s) for s in sys.argv[1:] if s != "--stream"] or [36, 500, 2000]
    table = "a table with a stream" if STREAM else "a table without a stream"
    print(f"TransactWriteItems (put + counter update) on {table}, mean of {TRANSACTIONS}, ms per transaction")
    print(f"{'items in table':>15} {'moto rollback':>15} {'item-level':>12} {'ratio':>7}")
    for size in sizes:
        whole = per_transaction_ms(size, item_level=False)
        items = per_transaction_ms(size, item_level=True)
        print(f"{size:>15} {whole:>15.1f} {items:>12.1f} {whole / items:>6.1f}x")


if __name__ == "__main__":
    main()
