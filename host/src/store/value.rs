//! What crosses the store's edge: the values a statement binds and the rows it returns, the same
//! for SQLite and PostgreSQL, so code above the store never sees a driver type.

use std::sync::Arc;

use super::StoreError;

/// A value bound to a statement's placeholder. A null keeps its type: PostgreSQL types each
/// parameter, and a null of the wrong type is an error there.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// An integer (every integer column is 64-bit).
    Int(Option<i64>),
    /// A floating-point number.
    Real(Option<f64>),
    /// A string.
    Text(Option<String>),
    /// Bytes.
    Blob(Option<Vec<u8>>),
    /// A boolean (an integer 0/1 on SQLite).
    Bool(Option<bool>),
}

/// A value a row holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// A string.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A boolean (PostgreSQL's `boolean`, e.g. from `EXISTS`).
    Bool(bool),
}

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Int(_) => "an integer",
            Self::Real(_) => "a real number",
            Self::Text(_) => "text",
            Self::Blob(_) => "bytes",
            Self::Bool(_) => "a boolean",
        }
    }
}

/// A Rust value that can be bound to a placeholder.
pub trait Bind {
    /// The argument this value binds as.
    fn into_arg(self) -> Arg;
    /// A null of this value's type, for `None`.
    fn null() -> Arg;
}

macro_rules! bind_as {
    ($variant:ident: $($t:ty => $convert:expr),+ $(,)?) => {$(
        impl Bind for $t {
            fn into_arg(self) -> Arg {
                let convert: fn($t) -> _ = $convert;
                Arg::$variant(Some(convert(self)))
            }
            fn null() -> Arg {
                Arg::$variant(None)
            }
        }
    )+};
}

bind_as!(Int: i64 => |v| v, i32 => i64::from, u32 => i64::from);
bind_as!(Real: f64 => |v| v);
bind_as!(Text: String => |v| v, &str => str::to_string);
bind_as!(Blob: Vec<u8> => |v| v, &[u8] => <[u8]>::to_vec);
bind_as!(Bool: bool => |v| v);

impl<T: Bind> Bind for Option<T> {
    fn into_arg(self) -> Arg {
        self.map_or_else(T::null, T::into_arg)
    }
    fn null() -> Arg {
        T::null()
    }
}

impl<T: Bind + Clone> Bind for &T {
    fn into_arg(self) -> Arg {
        self.clone().into_arg()
    }
    fn null() -> Arg {
        T::null()
    }
}

/// A Rust value a column can be read as.
pub trait Decode: Sized {
    /// What the column should hold, for the error when it does not.
    const EXPECTED: &'static str;
    /// The value, if the column's value is of a kind this type reads.
    fn decode(value: &Value) -> Option<Self>;
}

impl Decode for i64 {
    const EXPECTED: &'static str = "an integer";
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
}

impl Decode for i32 {
    const EXPECTED: &'static str = "a 32-bit integer";
    fn decode(value: &Value) -> Option<Self> {
        i64::decode(value).and_then(|i| i32::try_from(i).ok())
    }
}

impl Decode for f64 {
    const EXPECTED: &'static str = "a number";
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl Decode for bool {
    const EXPECTED: &'static str = "a boolean";
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl Decode for String {
    const EXPECTED: &'static str = "text";
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Decode for Vec<u8> {
    const EXPECTED: &'static str = "bytes";
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Blob(b) => Some(b.clone()),
            Value::Text(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::decode(other).map(Some),
        }
    }
}

/// One row a statement returned.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

/// Names a column of a row: by name or by position.
pub trait ColumnIndex {
    /// The column's position among `columns`.
    fn position(&self, columns: &[String]) -> Option<usize>;
    /// The column, for errors.
    fn describe(&self) -> String;
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
    fn describe(&self) -> String {
        (*self).to_string()
    }
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        format!("#{self}")
    }
}

impl Row {
    /// A row of `values` under the statement's `columns`.
    pub(super) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The column's value as `T`; an error names the column when it is missing or holds
    /// something else.
    pub fn try_get<T: Decode, I: ColumnIndex>(&self, column: I) -> Result<T, StoreError> {
        let position = column
            .position(&self.columns)
            .ok_or_else(|| StoreError::NoSuchColumn(column.describe()))?;
        let value = &self.values[position];
        T::decode(value).ok_or_else(|| StoreError::Decode {
            column: column.describe(),
            expected: T::EXPECTED,
            found: value.describe(),
        })
    }

    /// The first column's value, for scalar queries.
    pub(super) fn first<T: Decode>(&self) -> Result<T, StoreError> {
        self.try_get(0usize)
    }
}
