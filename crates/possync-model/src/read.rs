//! Typed, validating reads of single fields. Every accessor names the path it
//! read in its error, so a rejected remote change says exactly what it broke.

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde_json::Value as Json;

use crate::author::Stamp;
use crate::error::SchemaError;
use crate::ext;
use crate::ids::TerminalId;
use crate::schema::{K_AT, K_TERMINAL, K_USER, MAX_TEXT_LEN};

/// A validating reader of one map object at `path`.
///
/// It reads the whole map in one pass (`map_range`) and answers field
/// lookups from that, which is several times cheaper than one Automerge `get`
/// per field; the pass also says which keys hold conflicting values, so
/// `get_all` is only paid for those.
pub(crate) struct MapReader<'d, D: ReadDoc> {
    pub doc: &'d D,
    pub obj: ObjId,
    pub path: String,
    /// `(key, value, object id, conflict)`, sorted by key (Automerge's order).
    entries: Vec<(String, Value<'static>, ObjId, bool)>,
}

impl<'d, D: ReadDoc> MapReader<'d, D> {
    pub fn new(doc: &'d D, obj: ObjId, path: impl Into<String>) -> Self {
        let entries = doc
            .map_range(&obj, ..)
            .map(|item| {
                let id = item.id();
                (item.key.into_owned(), item.value.into(), id, item.conflict)
            })
            .collect();
        Self { doc, obj, path: path.into(), entries }
    }

    fn entry(&self, key: &str) -> Option<&(String, Value<'static>, ObjId, bool)> {
        self.entries.binary_search_by(|(k, ..)| k.as_str().cmp(key)).ok().map(|i| &self.entries[i])
    }

    /// The keys of this map, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, ..)| k.as_str())
    }

    /// Whether the key is present (with any value).
    pub fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}/{key}", self.path) }
    }

    fn get(&self, key: &str) -> Result<Option<(Value<'static>, ObjId)>, SchemaError> {
        Ok(self.entry(key).map(|(_, v, id, _)| (v.clone(), id.clone())))
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value<'_>) -> SchemaError {
        SchemaError::WrongType { path: self.field_path(key), expected, found: describe(found) }
    }

    pub fn map(&self, key: &str) -> Result<MapReader<'d, D>, SchemaError> {
        match self.get(key)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(MapReader::new(self.doc, id, self.field_path(key))),
            Some((other, _)) => Err(self.wrong(key, "a map", &other)),
            None => Err(SchemaError::Missing { path: self.field_path(key) }),
        }
    }

    pub fn opt_map(&self, key: &str) -> Result<Option<MapReader<'d, D>>, SchemaError> {
        match self.entry(key) {
            None => Ok(None),
            Some(_) => self.map(key).map(Some),
        }
    }

    pub fn str(&self, key: &str) -> Result<String, SchemaError> {
        self.opt_str(key)?.ok_or_else(|| SchemaError::Missing { path: self.field_path(key) })
    }

    /// A string, or `None` when the key is absent or null.
    pub fn opt_str(&self, key: &str) -> Result<Option<String>, SchemaError> {
        self.opt_str_up_to(key, MAX_TEXT_LEN)
    }

    /// [`MapReader::opt_str`] with another length limit, in bytes.
    pub fn opt_str_up_to(&self, key: &str, limit: usize) -> Result<Option<String>, SchemaError> {
        match self.get(key)? {
            None => Ok(None),
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Null => Ok(None),
                ScalarValue::Str(text) => {
                    if text.len() > limit {
                        Err(SchemaError::OutOfRange {
                            path: self.field_path(key),
                            detail: format!("{} bytes of text (limit {limit})", text.len()),
                        })
                    } else {
                        Ok(Some(text.to_string()))
                    }
                }
                _ => Err(self.wrong(key, "a string", &Value::Scalar(s))),
            },
            // Collaborative text, as Automerge JS writes for plain strings:
            // read it, so a JS terminal's order is still valid here.
            Some((Value::Object(ObjType::Text), id)) => {
                let text = self.doc.text(&id).unwrap_or_default();
                if text.len() > limit {
                    return Err(SchemaError::OutOfRange {
                        path: self.field_path(key),
                        detail: format!("{} bytes of text (limit {limit})", text.len()),
                    });
                }
                Ok(Some(text))
            }
            Some((other, _)) => Err(self.wrong(key, "a string", &other)),
        }
    }

    /// An integer within `range`. Accepts Automerge `int` and `uint`.
    pub fn int(&self, key: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, SchemaError> {
        match self.get(key)? {
            None => Err(SchemaError::Missing { path: self.field_path(key) }),
            Some((Value::Scalar(s), _)) => {
                let Some(n) = as_int(s.as_ref()) else {
                    return Err(self.wrong(key, "an integer", &Value::Scalar(s)));
                };
                self.in_range(key, n, range)
            }
            Some((other, _)) => Err(self.wrong(key, "an integer", &other)),
        }
    }

    /// Every concurrent value of an integer register (see [`crate::Conflict`]);
    /// each must be valid.
    pub fn all_ints(&self, key: &str, range: std::ops::RangeInclusive<i64>) -> Result<Vec<i64>, SchemaError> {
        if !self.entry(key).is_some_and(|e| e.3) {
            return Ok(vec![self.int(key, range)?]);
        }
        let values = self.doc.get_all(&self.obj, key).map_err(|e| SchemaError::WrongType {
            path: self.field_path(key),
            expected: "a readable value",
            found: e.to_string(),
        })?;
        if values.is_empty() {
            return Err(SchemaError::Missing { path: self.field_path(key) });
        }
        values
            .into_iter()
            .map(|(v, _)| match &v {
                Value::Scalar(s) => match as_int(s.as_ref()) {
                    Some(n) => self.in_range(key, n, range.clone()),
                    None => Err(self.wrong(key, "an integer", &v)),
                },
                _ => Err(self.wrong(key, "an integer", &v)),
            })
            .collect()
    }

    /// A counter (the only type whose concurrent increments add up).
    pub fn counter(&self, key: &str) -> Result<i64, SchemaError> {
        match self.get(key)? {
            None => Err(SchemaError::Missing { path: self.field_path(key) }),
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Counter(c) => Ok(i64::from(c)),
                _ => Err(self.wrong(key, "a counter", &Value::Scalar(s))),
            },
            Some((other, _)) => Err(self.wrong(key, "a counter", &other)),
        }
    }

    fn in_range(&self, key: &str, n: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64, SchemaError> {
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(SchemaError::OutOfRange {
                path: self.field_path(key),
                detail: format!("{n} is outside {}..={}", range.start(), range.end()),
            })
        }
    }

    pub fn stamp(&self, key: &str) -> Result<Stamp, SchemaError> {
        let m = self.map(key)?;
        m.stamp_fields()
    }

    /// Reads `user`, `terminal`, `at` of this map.
    pub fn stamp_fields(&self) -> Result<Stamp, SchemaError> {
        let terminal = self.str(K_TERMINAL)?;
        let terminal = TerminalId::parse(&terminal).map_err(|e| SchemaError::OutOfRange {
            path: self.field_path(K_TERMINAL),
            detail: e.to_string(),
        })?;
        Ok(Stamp { user: self.str(K_USER)?, terminal, at_ms: self.int(K_AT, i64::MIN..=i64::MAX)? })
    }

    /// The map at `key` as JSON (missing reads as an empty object).
    pub fn json_map(&self, key: &str) -> Result<serde_json::Map<String, Json>, SchemaError> {
        match self.get(key)? {
            None => Ok(serde_json::Map::new()),
            Some((v @ Value::Object(ObjType::Map), id)) => match ext::read_value(self.doc, &v, &id) {
                Json::Object(m) => Ok(m),
                _ => Ok(serde_json::Map::new()),
            },
            Some((other, _)) => Err(self.wrong(key, "a map", &other)),
        }
    }

    /// This whole map as JSON (as [`MapReader::json_map`] reads it from its
    /// parent, without reading the map again).
    pub fn to_json(&self) -> serde_json::Map<String, Json> {
        self.entries.iter().map(|(k, v, id, _)| (k.clone(), ext::read_value(self.doc, v, id))).collect()
    }

    /// Every concurrent value of the register at `key`, as JSON, the value
    /// [`ReadDoc::get`] shows first. Empty when the key is absent.
    pub fn competing(&self, key: &str) -> Vec<Json> {
        if !self.entry(key).is_some_and(|e| e.3) {
            return Vec::new();
        }
        let Ok(all) = self.doc.get_all(&self.obj, key) else { return Vec::new() };
        if all.len() < 2 {
            return Vec::new();
        }
        let winner = self.doc.get(&self.obj, key).ok().flatten().map(|(_, id)| id);
        let mut values: Vec<(bool, Json)> = all
            .iter()
            .map(|(v, id)| (Some(id) == winner.as_ref(), ext::read_value(self.doc, v, id)))
            .collect();
        // Winner first; the rest keep Automerge's (deterministic) order.
        values.sort_by_key(|(is_winner, _)| !is_winner);
        values.into_iter().map(|(_, v)| v).collect()
    }
}

/// The integer a scalar holds: an `int`, a `uint`, or a whole-number
/// `f64` within ±2^53 (exact in a float). Automerge JS writes `0` and
/// negative numbers inside an object literal as float64, so a plain JS
/// terminal's `{discount: 0}` must read as the integer it means.
pub(crate) fn as_int(s: &ScalarValue) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match s {
        ScalarValue::Int(i) => Some(*i),
        ScalarValue::Uint(u) => Some(i64::try_from(*u).unwrap_or(i64::MAX)),
        // The cast is exact: the value is whole and within ±2^53.
        #[allow(clippy::cast_possible_truncation)]
        ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() <= EXACT => Some(*f as i64),
        _ => None,
    }
}

pub(crate) fn describe(v: &Value<'_>) -> String {
    match v {
        Value::Object(t) => format!("{t:?}").to_lowercase(),
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Bytes(_) => "bytes".into(),
            ScalarValue::Str(s) => format!("string {:?}", crate::ids::truncate_for_error(s)),
            ScalarValue::Int(i) => format!("int {i}"),
            ScalarValue::Uint(u) => format!("uint {u}"),
            ScalarValue::F64(f) => format!("float {f}"),
            ScalarValue::Counter(c) => format!("counter {c}"),
            ScalarValue::Timestamp(t) => format!("timestamp {t}"),
            ScalarValue::Boolean(b) => format!("boolean {b}"),
            ScalarValue::Unknown { type_code, .. } => format!("unknown type {type_code}"),
            ScalarValue::Null => "null".into(),
        },
    }
}
