//! `Located<T>`: a suite value that remembers where in the YAML file it was written.
//!
//! Most suite mistakes are not YAML syntax errors but valid YAML with a wrong value
//! (`batch_size: 0`, a batch larger than the dataset). To point the user at the exact
//! line and column, every value in the schema is deserialized through serde-saphyr's
//! `Spanned`. This wrapper adds what `Spanned` lacks here: equality on the value only
//! (so matrix `include`/`exclude` matching ignores where a value was written), a
//! JSON Schema identical to `T`'s, and serialization as the bare value.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A position in a suite file, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Line, counting from 1.
    pub line: u32,
    /// Column, counting from 1.
    pub column: u32,
}

/// A value with the position of the YAML node it was read from (if any).
#[derive(Clone, Debug)]
pub struct Located<T> {
    /// The value itself.
    pub value: T,
    /// Where it was written; `None` for built-in defaults.
    pub position: Option<Position>,
    /// The field path where it was written (`defaults.lr`, `matrix.batch_size[2]`),
    /// set after parsing; `None` for built-in defaults.
    pub path: Option<String>,
}

impl<T> Located<T> {
    /// A value that was not read from a file (a built-in default).
    pub fn builtin(value: T) -> Self {
        Located {
            value,
            position: None,
            path: None,
        }
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let loc = spanned.referenced;
        // serde-saphyr reports line 0 for locations it does not know.
        let position = (loc.line() > 0).then(|| Position {
            line: loc.line() as u32,
            column: loc.column() as u32,
        });
        Ok(Located {
            value: spanned.value,
            position,
            path: None,
        })
    }
}

impl<T: Serialize> Serialize for Located<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}
