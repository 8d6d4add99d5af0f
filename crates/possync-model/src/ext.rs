//! Extension fields: the possync counterpart of the reference addon's
//! `export_as_JSON` / `init_from_JSON` / `apply_ms_data`.
//!
//! An integrator stores its own fields under `ext` on an order or a line. Each
//! top-level key is its own Automerge register, so two terminals that change
//! different keys concurrently both keep their change. Nested JSON objects are
//! Automerge maps, updated key by key when they already exist; arrays are
//! lists, replaced whole when they differ; strings are scalar strings.
//!
//! In Rust, [`Extension`] gives a typed view: any `serde` struct whose fields
//! become ext keys.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value as Json};

use crate::error::EditError;
use crate::schema::{MAX_EXT_BYTES, MAX_EXT_DEPTH, MAX_TEXT_LEN};

/// A typed set of extension fields. Implement it (it has no methods) for a
/// `serde` struct whose fields all have defaults, then write it with
/// [`crate::Edit::SetExt`] via [`to_fields`] and read it with
/// [`crate::OrderView::ext_as`]. Fields other integrations wrote are left alone.
pub trait Extension: Serialize + DeserializeOwned {}

/// The JSON object of an extension value's fields, checked against the limits.
pub fn to_fields<E: Extension>(ext: &E) -> Result<Map<String, Json>, EditError> {
    match serde_json::to_value(ext) {
        Ok(Json::Object(fields)) => {
            check_fields(&fields)?;
            Ok(fields)
        }
        Ok(other) => Err(EditError::Invalid {
            field: "ext",
            detail: format!("an extension must serialize to a JSON object, not {}", kind(&other)),
        }),
        Err(e) => Err(EditError::Invalid { field: "ext", detail: e.to_string() }),
    }
}

/// Rejects keys that are empty or too long, values too large or too deep.
pub fn check_fields(fields: &Map<String, Json>) -> Result<(), EditError> {
    for (key, value) in fields {
        if key.is_empty() || key.len() > 64 {
            return Err(EditError::Invalid {
                field: "ext",
                detail: format!("key {key:?} must be 1 to 64 bytes"),
            });
        }
        if depth(value) > MAX_EXT_DEPTH {
            return Err(EditError::Invalid {
                field: "ext",
                detail: format!("value of {key:?} nests deeper than {MAX_EXT_DEPTH} levels"),
            });
        }
    }
    let size = serde_json::to_string(fields).map(|s| s.len()).unwrap_or(usize::MAX);
    if size > MAX_EXT_BYTES {
        return Err(EditError::Invalid {
            field: "ext",
            detail: format!("{size} bytes of extension data in one edit (limit {MAX_EXT_BYTES})"),
        });
    }
    Ok(())
}

fn depth(v: &Json) -> usize {
    match v {
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Writes `fields` into the map `obj`, touching only what differs, so that an
/// unchanged field makes no Automerge operation and cannot win a conflict it
/// has no part in.
pub(crate) fn write_fields<T: Transactable + ReadDoc>(
    tx: &mut T,
    obj: &ObjId,
    fields: &Map<String, Json>,
) -> Result<(), EditError> {
    for (key, value) in fields {
        write_value(tx, obj, key, value)?;
    }
    Ok(())
}

fn write_value<T: Transactable + ReadDoc>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: &Json,
) -> Result<(), EditError> {
    let existing = tx.get(obj, key)?;
    // Concurrent writes left competing values here: any write settles them
    // (as it does for an order's own fields), even one of the shown value.
    let conflicted = tx.get_all(obj, key)?.len() > 1;
    match value {
        Json::Object(fields) => {
            let map = match existing {
                Some((Value::Object(ObjType::Map), id)) if !conflicted => id,
                Some((shown @ Value::Object(ObjType::Map), id)) => {
                    // One object in place of the competing ones: the shown
                    // object's fields, then the written ones over them.
                    let shown = match read_value(tx, &shown, &id) {
                        Json::Object(m) => m,
                        _ => Map::new(),
                    };
                    let map = tx.put_object(obj, key, ObjType::Map)?;
                    write_fields(tx, &map, &shown)?;
                    map
                }
                _ => tx.put_object(obj, key, ObjType::Map)?,
            };
            write_fields(tx, &map, fields)
        }
        Json::Array(items) => {
            let unchanged = !conflicted
                && existing.as_ref().is_some_and(|(v, id)| {
                    matches!(v, Value::Object(ObjType::List)) && read_value(tx, v, id) == *value
                });
            if !unchanged {
                let list = tx.put_object(obj, key, ObjType::List)?;
                for (i, item) in items.iter().enumerate() {
                    insert_value(tx, &list, i, item)?;
                }
            }
            Ok(())
        }
        scalar => {
            let new = to_scalar(scalar)?;
            let unchanged =
                !conflicted && matches!(&existing, Some((Value::Scalar(old), _)) if old.as_ref() == &new);
            if !unchanged {
                tx.put(obj, key, new)?;
            }
            Ok(())
        }
    }
}

fn insert_value<T: Transactable + ReadDoc>(
    tx: &mut T,
    list: &ObjId,
    index: usize,
    value: &Json,
) -> Result<(), EditError> {
    match value {
        Json::Object(fields) => {
            let map = tx.insert_object(list, index, ObjType::Map)?;
            write_fields(tx, &map, fields)
        }
        Json::Array(items) => {
            let inner = tx.insert_object(list, index, ObjType::List)?;
            for (i, item) in items.iter().enumerate() {
                insert_value(tx, &inner, i, item)?;
            }
            Ok(())
        }
        scalar => {
            tx.insert(list, index, to_scalar(scalar)?)?;
            Ok(())
        }
    }
}

fn to_scalar(v: &Json) -> Result<ScalarValue, EditError> {
    Ok(match v {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => {
            if s.len() > MAX_TEXT_LEN * 16 {
                return Err(EditError::Invalid {
                    field: "ext",
                    detail: format!("a string of {} bytes is too long", s.len()),
                });
            }
            ScalarValue::Str(s.as_str().into())
        }
        Json::Array(_) | Json::Object(_) => unreachable_composite(),
    })
}

#[cold]
fn unreachable_composite() -> ScalarValue {
    // Callers route arrays and objects elsewhere; a null is the harmless answer
    // should that ever change.
    ScalarValue::Null
}

/// Reads any Automerge value as JSON. Never fails: a value type JSON cannot
/// express (bytes, an unknown future type) reads as a descriptive string, so an
/// unknown field from a newer terminal is still shown and never dropped.
pub(crate) fn read_value<R: ReadDoc>(doc: &R, value: &Value<'_>, id: &ObjId) -> Json {
    match value {
        Value::Object(ObjType::Map | ObjType::Table) => {
            let mut map = Map::new();
            for item in doc.map_range(id, ..) {
                let id = item.id();
                map.insert(item.key.to_string(), read_value(doc, &item.value.into(), &id));
            }
            Json::Object(map)
        }
        Value::Object(ObjType::List) => Json::Array(
            doc.list_range(id, ..)
                .map(|item| {
                    let id = item.id();
                    read_value(doc, &item.value.into(), &id)
                })
                .collect(),
        ),
        Value::Object(ObjType::Text) => Json::String(doc.text(id).unwrap_or_default()),
        Value::Scalar(s) => scalar_to_json(s),
    }
}

pub(crate) fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Null => Json::Null,
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Bytes(b) => Json::String(format!("<{} bytes>", b.len())),
        ScalarValue::Unknown { type_code, .. } => Json::String(format!("<unknown type {type_code}>")),
    }
}
