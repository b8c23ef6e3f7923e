//! DynamoDB write capacity units of a write, from the sizes of the items it touched, by
//! DynamoDB's documented rules, since the emulator does not report them (moto answers a
//! fixed `ConsumedCapacity`, and none for transactions).
//!
//! The fault proxy uses it at the wire: for each item a write request names, it reads the
//! item before and after forwarding the request (reads it does not count) and books:
//!
//! - the table: ⌈max(size before, size after) / 1 KB⌉ units, at least 1; twice that
//!   inside `TransactWriteItems` (a transactional write costs 2 units per KB);
//! - each global secondary index the item enters, leaves or changes in: ⌈projected size /
//!   1 KB⌉ units per index write (2 writes when the item's index key changes: the old
//!   entry deleted, the new one put); an index write is not doubled by a transaction.
//!
//! Item size: the UTF-8 length of every attribute name plus the size of its value
//! (strings: UTF-8 length; numbers: 1 byte per 2 significant digits, plus 1; binary: its
//! length; booleans and null: 1; lists and maps: 3 bytes plus 1 per element plus their
//! contents; sets: their elements).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One KB, DynamoDB's write unit.
const KB: u64 = 1024;

/// What the key and the indexes of a table are (from `DescribeTable`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableInfo {
    pub key: Vec<String>,
    pub indexes: Vec<IndexInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexInfo {
    pub name: String,
    pub key: Vec<String>,
    pub projection: Projection,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

impl TableInfo {
    /// Reads a `DescribeTable` answer.
    pub fn from_describe(answer: &Value) -> Option<Self> {
        let table = answer.get("Table")?;
        let names = |schema: Option<&Value>| -> Vec<String> {
            schema
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.get("AttributeName")?.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let indexes = table
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_array)
            .map(|indexes| {
                indexes
                    .iter()
                    .map(|i| {
                        let projection = i.get("Projection");
                        let kind = projection.and_then(|p| p.get("ProjectionType")).and_then(Value::as_str);
                        IndexInfo {
                            name: i
                                .get("IndexName")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            key: names(i.get("KeySchema")),
                            projection: match kind {
                                Some("KEYS_ONLY") => Projection::KeysOnly,
                                Some("INCLUDE") => Projection::Include(
                                    projection
                                        .and_then(|p| p.get("NonKeyAttributes"))
                                        .and_then(Value::as_array)
                                        .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                                        .unwrap_or_default(),
                                ),
                                _ => Projection::All,
                            },
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            key: names(table.get("KeySchema")),
            indexes,
        })
    }

    /// The key of `item` (its key attributes).
    pub fn key_of(&self, item: &Map<String, Value>) -> Map<String, Value> {
        self.key
            .iter()
            .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

/// Where a write names its item: by key, or by the whole item (a put).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Key(Map<String, Value>),
    Item(Map<String, Value>),
}

/// One item a write request writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWrite {
    pub table: String,
    pub target: Target,
    pub transactional: bool,
}

/// The items a DynamoDB write request writes; none for other operations.
pub fn writes_of(operation: &str, body: &Value) -> Vec<ItemWrite> {
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned();
    let table = |v: &Value| {
        v.get("TableName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let single = |target: Option<Target>| {
        target
            .map(|target| {
                vec![ItemWrite {
                    table: table(body),
                    target,
                    transactional: false,
                }]
            })
            .unwrap_or_default()
    };
    match operation {
        "PutItem" => single(object(body.get("Item")).map(Target::Item)),
        "UpdateItem" | "DeleteItem" => single(object(body.get("Key")).map(Target::Key)),
        "TransactWriteItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let (kind, inner) = entry.as_object()?.iter().next()?;
                let target = match kind.as_str() {
                    "Put" => Target::Item(object(inner.get("Item"))?),
                    _ => Target::Key(object(inner.get("Key"))?),
                };
                Some(ItemWrite {
                    table: table(inner),
                    target,
                    transactional: true,
                })
            })
            .collect(),
        "BatchWriteItem" => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .flat_map(|(name, requests)| {
                requests.as_array().into_iter().flatten().filter_map(move |r| {
                    let target = if let Some(put) = r.get("PutRequest") {
                        Target::Item(object(put.get("Item"))?)
                    } else {
                        Target::Key(object(r.get("DeleteRequest")?.get("Key"))?)
                    };
                    Some(ItemWrite {
                        table: name.clone(),
                        target,
                        transactional: false,
                    })
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The size of an attribute value.
fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = |v: &Value| v.as_str().map(|s| s.len() as u64).unwrap_or(0);
    let number = |v: &Value| {
        let digits = v
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('-')
            .replace('.', "")
            .trim_start_matches('0')
            .trim_end_matches('0')
            .len() as u64;
        digits.div_ceil(2) + 1
    };
    let binary = |v: &Value| text(v) * 3 / 4;
    let elements =
        |v: &Value, size: &dyn Fn(&Value) -> u64| v.as_array().map(|a| a.iter().map(size).sum()).unwrap_or(0);
    match kind.as_str() {
        "S" => text(inner),
        "N" => number(inner),
        "B" => binary(inner),
        "BOOL" | "NULL" => 1,
        "SS" => elements(inner, &text),
        "NS" => elements(inner, &number),
        "BS" => elements(inner, &binary),
        "L" => {
            3 + inner
                .as_array()
                .map(|a| a.iter().map(|v| 1 + value_size(v)).sum())
                .unwrap_or(0)
        }
        "M" => {
            3 + inner
                .as_object()
                .map(|m| m.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum())
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// The size of an item (or of some of its attributes).
pub fn item_size<'a>(attributes: impl IntoIterator<Item = (&'a String, &'a Value)>) -> u64 {
    attributes
        .into_iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

/// Write units on the table and on its indexes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Units {
    pub table: u64,
    pub indexes: u64,
}

/// The units of writing one item that was `before` and is `after` (`None`: absent).
pub fn units_of(
    table: &TableInfo,
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
    transactional: bool,
) -> Units {
    let size = |item: Option<&Map<String, Value>>| item.map(item_size).unwrap_or(0);
    let base = size(before).max(size(after)).div_ceil(KB).max(1);
    let mut indexes = 0;
    for index in &table.indexes {
        let projected = |item: &Map<String, Value>| -> BTreeMap<String, Value> {
            item.iter()
                .filter(|(name, _)| {
                    table.key.contains(name)
                        || index.key.contains(name)
                        || match &index.projection {
                            Projection::All => true,
                            Projection::KeysOnly => false,
                            Projection::Include(names) => names.contains(name),
                        }
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let entry = |item: Option<&Map<String, Value>>| {
            item.filter(|i| index.key.iter().all(|k| i.contains_key(k)))
                .map(projected)
        };
        let cost = |e: &BTreeMap<String, Value>| item_size(e).div_ceil(KB).max(1);
        let key = |e: &BTreeMap<String, Value>| index.key.iter().map(|k| e.get(k).cloned()).collect::<Vec<_>>();
        indexes += match (entry(before), entry(after)) {
            (None, None) => 0,
            (Some(old), None) => cost(&old),
            (None, Some(new)) => cost(&new),
            (Some(old), Some(new)) if key(&old) != key(&new) => cost(&old) + cost(&new),
            (Some(old), Some(new)) if old != new => cost(&old).max(cost(&new)),
            _ => 0,
        };
    }
    Units {
        table: if transactional { 2 * base } else { base },
        indexes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        assert_eq!(item_size(&map(json!({"pk": {"S": "job#1"}}))), 2 + 5);
        assert_eq!(item_size(&map(json!({"n": {"N": "12345"}}))), 1 + 3 + 1);
        assert_eq!(item_size(&map(json!({"n": {"N": "-0.0100"}}))), 1 + 1 + 1);
        assert_eq!(
            item_size(&map(json!({"b": {"BOOL": true}, "z": {"NULL": true}}))),
            2 + 2
        );
        assert_eq!(
            item_size(&map(json!({"m": {"M": {"ab": {"S": "xyz"}}}}))),
            1 + 3 + (1 + 2 + 3)
        );
        assert_eq!(
            item_size(&map(json!({"l": {"L": [{"S": "a"}, {"N": "1"}]}}))),
            1 + 3 + (1 + 1) + (1 + 2)
        );
    }

    #[test]
    fn a_request_names_the_items_it_writes() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "x": {"S": "1"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "c"}}, "UpdateExpression": "ADD n :one"}}
        ]});
        let writes = writes_of("TransactWriteItems", &body);
        assert_eq!(writes.len(), 2);
        assert!(writes.iter().all(|w| w.transactional && w.table == "t"));
        assert_eq!(writes[1].target, Target::Key(map(json!({"pk": {"S": "c"}}))));
        let update = writes_of("UpdateItem", &json!({"TableName": "t", "Key": {"pk": {"S": "a"}}}));
        assert_eq!(update.len(), 1);
        assert!(!update[0].transactional);
        assert!(writes_of("GetItem", &json!({"TableName": "t", "Key": {}})).is_empty());
    }

    #[test]
    fn units_round_up_per_kilobyte_double_in_transactions_and_count_index_writes() {
        let table = TableInfo::from_describe(&json!({"Table": {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "open", "KeySchema": [{"AttributeName": "open", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "all", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}}
        ]}}))
        .unwrap();
        let small = map(json!({"pk": {"S": "a"}, "open": {"S": "1"}, "g": {"S": "x"}}));
        let big = map(json!({"pk": {"S": "a"}, "g": {"S": "x"}, "data": {"S": "y".repeat(1500)}}));
        // A new small item: 1 unit, 2 in a transaction; it enters both indexes.
        assert_eq!(
            units_of(&table, None, Some(&small), false),
            Units { table: 1, indexes: 2 }
        );
        assert_eq!(units_of(&table, None, Some(&small), true).table, 2);
        // Growing past 1 KB: 2 units; it leaves `open` (1) and changes in `all` (2 KB: 2).
        assert_eq!(
            units_of(&table, Some(&small), Some(&big), false),
            Units { table: 2, indexes: 3 }
        );
        // Unchanged index entries cost nothing.
        assert_eq!(
            units_of(&table, Some(&big), Some(&big), false),
            Units { table: 2, indexes: 0 }
        );
        assert_eq!(table.key_of(&small), map(json!({"pk": {"S": "a"}})));
        assert_eq!(table.indexes[0].projection, Projection::KeysOnly);
    }
}
