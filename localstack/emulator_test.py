"""Checks the emulator's item-level transaction rollback against moto's own.

The same seeded random sequence of TransactWriteItems calls (puts, updates, deletes and
condition checks on a few keys, with failing conditions, an item named twice and a
missing table mixed in) runs once on moto as it ships and once with
`install_item_level_rollback()`; every answer and both tables' final contents must be
identical, and the run must have exercised both committed and rolled-back transactions.
Then a few targeted cases check that a rollback restores an updated, a deleted and a
newly put item. Runs in-process with moto's mock (no server, no network).

Usage: python emulator_test.py [SEEDS]
"""

import os
import random
import sys
import unittest

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator  # noqa: E402

SEEDS = int(os.environ.get("EMULATOR_TEST_SEEDS", "8"))
STEPS = 150


def client():
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def create_tables(ddb):
    ddb.create_table(
        TableName="jobs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName="runs",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def random_key(rng, table):
    key = {"pk": {"S": f"k{rng.randrange(6)}"}}
    if table == "runs":
        key["sk"] = {"S": f"s{rng.randrange(3)}"}
    return key


def random_op(rng):
    table = rng.choice(["jobs", "runs", "jobs", "missing"] if rng.random() < 0.05 else ["jobs", "runs"])
    key = random_key(rng, table)
    kind = rng.choice(["Put", "Update", "Update", "Delete", "ConditionCheck"])
    if kind == "Put":
        op = {"TableName": table, "Item": {**key, "n": {"N": str(rng.randrange(5))}, "tag": {"S": "put"}}}
        if rng.random() < 0.6:
            op["ConditionExpression"] = "attribute_not_exists(pk)"
    elif kind == "Update":
        op = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "ADD n :one SET tag = :tag",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":tag": {"S": "updated"}},
        }
        if rng.random() < 0.5:
            op["ConditionExpression"] = "attribute_not_exists(n) OR n < :limit"
            op["ExpressionAttributeValues"][":limit"] = {"N": "4"}
    elif kind == "Delete":
        op = {"TableName": table, "Key": key}
        if rng.random() < 0.5:
            op["ConditionExpression"] = "attribute_exists(pk)"
    else:
        op = {
            "TableName": table,
            "Key": key,
            "ConditionExpression": "attribute_exists(pk)",
        }
    if "ConditionExpression" in op and rng.random() < 0.5:
        op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {kind: op}


def answer(ddb, items):
    try:
        ddb.transact_write_items(TransactItems=items)
        return ("ok",)
    except ClientError as err:
        error = err.response["Error"]
        reasons = err.response.get("CancellationReasons")
        return ("error", error.get("Code"), error.get("Message"), repr(reasons))


def contents(ddb):
    out = {}
    for table in ("jobs", "runs"):
        items = ddb.scan(TableName=table)["Items"]
        out[table] = sorted(repr(sorted(item.items())) for item in items)
        out[table + ":count"] = ddb.describe_table(TableName=table)["Table"]["ItemCount"]
    return out


def run_sequence(seed, item_level):
    if item_level:
        emulator.install_item_level_rollback()
    else:
        emulator.uninstall_item_level_rollback()
    try:
        with mock_aws():
            ddb = client()
            create_tables(ddb)
            rng = random.Random(seed)
            answers = []
            for _ in range(STEPS):
                ops = [random_op(rng) for _ in range(rng.randrange(1, 5))]
                if rng.random() < 0.05:
                    ops.append(ops[0])  # an item named twice: moto refuses the whole call
                answers.append(answer(ddb, ops))
            return answers, contents(ddb)
    finally:
        emulator.uninstall_item_level_rollback()


class SameAnswersAsMoto(unittest.TestCase):
    def test_random_transactions_answer_and_leave_tables_as_moto_does(self):
        committed = rolled_back = 0
        for seed in range(SEEDS):
            with self.subTest(seed=seed):
                moto_answers, moto_tables = run_sequence(seed, item_level=False)
                ours_answers, ours_tables = run_sequence(seed, item_level=True)
                self.assertEqual(moto_answers, ours_answers)
                self.assertEqual(moto_tables, ours_tables)
                committed += sum(1 for a in moto_answers if a[0] == "ok")
                rolled_back += sum(1 for a in moto_answers if a[0] == "error")
        # The sequences must have exercised both outcomes, or the comparison proves little.
        self.assertGreater(committed, SEEDS * 10)
        self.assertGreater(rolled_back, SEEDS * 10)


class RollbackRestoresTouchedItems(unittest.TestCase):
    def setUp(self):
        emulator.install_item_level_rollback()
        self.mock = mock_aws()
        self.mock.start()
        self.ddb = client()
        create_tables(self.ddb)
        self.ddb.put_item(TableName="jobs", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        self.ddb.put_item(TableName="jobs", Item={"pk": {"S": "b"}, "n": {"N": "1"}})
        self.ddb.put_item(TableName="runs", Item={"pk": {"S": "r"}, "sk": {"S": "1"}})

    def tearDown(self):
        self.mock.stop()
        emulator.uninstall_item_level_rollback()

    def test_a_failed_condition_undoes_every_write_of_the_transaction(self):
        result = answer(
            self.ddb,
            [
                {"Update": {"TableName": "jobs", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Delete": {"TableName": "jobs", "Key": {"pk": {"S": "b"}}}},
                {"Put": {"TableName": "jobs", "Item": {"pk": {"S": "new"}}}},
                {"Put": {"TableName": "runs", "Item": {"pk": {"S": "r"}, "sk": {"S": "2"}}}},
                {"ConditionCheck": {"TableName": "jobs", "Key": {"pk": {"S": "nobody"}},
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ],
        )
        self.assertEqual(result[:2], ("error", "TransactionCanceledException"))
        jobs = {i["pk"]["S"]: i for i in self.ddb.scan(TableName="jobs")["Items"]}
        self.assertEqual(sorted(jobs), ["a", "b"])
        self.assertEqual(jobs["a"]["n"], {"N": "1"})
        runs = self.ddb.scan(TableName="runs")["Items"]
        self.assertEqual([(i["pk"]["S"], i["sk"]["S"]) for i in runs], [("r", "1")])

    def test_a_committed_transaction_keeps_its_writes(self):
        result = answer(
            self.ddb,
            [
                {"Update": {"TableName": "jobs", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": "jobs", "Item": {"pk": {"S": "new"}}}},
            ],
        )
        self.assertEqual(result, ("ok",))
        a = self.ddb.get_item(TableName="jobs", Key={"pk": {"S": "a"}})["Item"]
        self.assertEqual(a["n"], {"N": "2"})
        self.assertIn("Item", self.ddb.get_item(TableName="jobs", Key={"pk": {"S": "new"}}))


class StreamsUnderRollback(unittest.TestCase):
    """A table with a stream: a cancelled transaction leaves no stream record, a committed
    one leaves one per item, and a reader that holds the stream shard (as a shard iterator
    does) keeps seeing new records. Moto's own rollback fails the last two: it swaps in a
    copy of the table, so the held shard keeps the cancelled records and sees nothing after."""

    def setUp(self):
        emulator.install_item_level_rollback()
        self.mock = mock_aws()
        self.mock.start()
        self.ddb = client()
        self.ddb.create_table(
            TableName="streamed",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        backend = emulator.dynamodb_models.dynamodb_backends["123456789012"]["us-east-1"]
        self.backend = backend
        self.shard = backend.tables["streamed"].stream_shard
        self.seen = 0

    def tearDown(self):
        self.mock.stop()
        emulator.uninstall_item_level_rollback()

    def read(self):
        records = self.shard.items[self.seen:]
        self.seen = len(self.shard.items)
        return [(r.record["eventName"], r.record["dynamodb"]["Keys"]["pk"]["S"]) for r in records]

    def test_a_cancelled_transaction_writes_no_stream_record(self):
        self.ddb.put_item(TableName="streamed", Item={"pk": {"S": "a"}})
        self.assertEqual(self.read(), [("INSERT", "a")])
        cancelled = answer(
            self.ddb,
            [
                {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "b"}}}},
                {"Update": {"TableName": "streamed", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET x = :x",
                            "ExpressionAttributeValues": {":x": {"S": "1"}}}},
                {"ConditionCheck": {"TableName": "streamed", "Key": {"pk": {"S": "nobody"}},
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ],
        )
        self.assertEqual(cancelled[:2], ("error", "TransactionCanceledException"))
        self.assertEqual(self.read(), [], "a cancelled transaction must leave no stream record")
        self.assertIs(self.backend.tables["streamed"].stream_shard, self.shard, "the stream's readers keep their shard")
        committed = answer(
            self.ddb,
            [
                {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "b"}}}},
                {"Delete": {"TableName": "streamed", "Key": {"pk": {"S": "a"}}}},
            ],
        )
        self.assertEqual(committed, ("ok",))
        self.assertEqual(self.read(), [("INSERT", "b"), ("REMOVE", "a")])
        items = sorted(i["pk"]["S"] for i in self.ddb.scan(TableName="streamed")["Items"])
        self.assertEqual(items, ["b"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
