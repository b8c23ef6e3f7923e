"""The local AWS emulator: moto's server, with DynamoDB requests taken one at a time.

Two changes to moto, neither of which changes what it answers:

- moto serves requests on threads, but its DynamoDB backend is not thread-safe:
  concurrent writes make a transaction's rollback fail (HTTP 500) or overwrite another
  request's write. Real DynamoDB has no such problem, so the local stand-in serializes
  DynamoDB calls; SQS long polls and the other services stay concurrent.
- moto's TransactWriteItems deep-copies every table a transaction touches, once per
  transaction item, so that it can roll back; its cost grows with the table (tens of
  milliseconds per transaction at a few hundred jobs, hundreds at a few thousand), and
  local throughput fell as the job table grew. Here a transaction saves only the items it
  touches and puts exactly those back when moto rolls back, so its cost no longer depends
  on the table's size. A table with a stream also gets its stream back as it was: the
  records written before the rollback are dropped, so a cancelled transaction never
  shows in the stream (moto's own whole-table copy swaps the table object, leaving the
  stream readers that hold the old stream shard with the cancelled records and blind to
  every later one).

DynamoDB Streams calls (`DynamoDBStreams_*`) take the same lock as DynamoDB's, so a
reader never sees a transaction half-written.

`localstack/emulator_test.py` checks that the two give the same answers and the same
tables; `localstack/emulator_bench.py` measures the transaction cost by table size.

Usage: emulator.py HOST PORT
"""

import copy
import os
import signal
import sys
import threading

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

# The exceptions after which moto restores the tables it copied.
_ROLLED_BACK = (TransactionCanceledException, MultipleTransactionsException, MockValidationException)
_WHOLE_TABLE_COPY = dynamodb_models.DynamoDBBackend.transact_write_items


class _CopyKeepingTables:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a deep copy of a
    table without a stream is the table itself (its touched items are saved instead)."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched_items(backend, transact_items):
    """(table, hash key, range key, saved item or None, hash key present) for every item
    the transaction names that can be located; the rest moto rejects before writing."""
    saved = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op["Item"] if op_type == "Put" else op["Key"]
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            present = hash_key in table.items
            current = table.get_item(hash_key, range_key)
        except (StopIteration, KeyError, TypeError, AttributeError, MockValidationException):
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(current), present))
    return saved


def _put_back(saved):
    # In reverse, so that an item named twice ends as it was before the first.
    for table, hash_key, range_key, item, present in reversed(saved):
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
            continue
        if item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
            if not present and not table.items.get(hash_key):
                table.items.pop(hash_key, None)
        else:
            table.items[hash_key][range_key] = item


def _stream_lengths(saved):
    """(stream shard, records in it) of every touched table with a stream."""
    shards = {id(t.stream_shard): t.stream_shard for t, *_ in saved if t.stream_shard is not None}
    return [(shard, len(shard.items)) for shard in shards.values()]


def _item_level_transact_write_items(self, transact_items):
    saved = _touched_items(self, transact_items)
    streams = _stream_lengths(saved)
    try:
        return _WHOLE_TABLE_COPY(self, transact_items)
    except _ROLLED_BACK:
        _put_back(saved)
        for shard, length in streams:
            del shard.items[length:]
        raise


def install_item_level_rollback():
    """Makes TransactWriteItems save and restore only the items it touches."""
    dynamodb_models.copy = _CopyKeepingTables()
    dynamodb_models.DynamoDBBackend.transact_write_items = _item_level_transact_write_items


def uninstall_item_level_rollback():
    """Restores moto's own whole-table copy (for comparisons and benchmarks)."""
    dynamodb_models.copy = copy
    dynamodb_models.DynamoDBBackend.transact_write_items = _WHOLE_TABLE_COPY


def main() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    install_item_level_rollback()
    app = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def serialized_dynamodb(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(("DynamoDB_", "DynamoDBStreams_")):
            with dynamodb:
                return list(app(environ, start_response))
        return app(environ, start_response)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, serialized_dynamodb, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
