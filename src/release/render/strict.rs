//! Strict reading of a JSON object into a Kubernetes API type: the typed value, and the first field the
//! type has no place for (kubectl's strict field validation), found while reading — without copying the
//! keys of every map to keep a path that is almost never printed.
//!
//! The API types skip a field they do not know with `IgnoredAny`; [`Strict`] wraps the JSON value's own
//! deserializer, passes every request through, and when a value is skipped that way remembers where it
//! was (a null there is no field set, as the API server sees it too).

use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::cell::RefCell;

/// `object` read as `T`, with the dotted path (`spec.template.spec.foo`) of the first non-null field
/// `T` ignored, if any. The error is serde_json's, as reading without the wrapper gives.
pub(super) fn read_strict<'de, T: Deserialize<'de>>(
    object: &'de Value,
) -> Result<(T, Option<String>), serde_json::Error> {
    let unknown = RefCell::new(None);
    let value = T::deserialize(Strict {
        value: object,
        path: &Path::Root,
        unknown: &unknown,
    })?;
    Ok((value, unknown.into_inner()))
}

/// Where a value sits below the document's root; written out only for an unknown field.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn dotted(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Key(parent, key) => {
                let parent = parent.dotted();
                if parent.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{parent}.{key}")
                }
            }
            Path::Index(parent, index) => format!("{}[{index}]", parent.dotted()),
        }
    }
}

/// A JSON value being read, where it is, and the first unknown field found so far.
struct Strict<'de, 'a> {
    value: &'de Value,
    path: &'a Path<'a>,
    unknown: &'a RefCell<Option<String>>,
}

impl<'de, 'a> Strict<'de, 'a> {
    fn map<V: Visitor<'de>>(
        self,
        map: &'de serde_json::Map<String, Value>,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_map(StrictMap {
            entries: map.iter(),
            pending: None,
            path: self.path,
            unknown: self.unknown,
        })
    }

    fn seq<V: Visitor<'de>>(
        self,
        items: &'de [Value],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_seq(StrictSeq {
            items: items.iter().enumerate(),
            path: self.path,
            unknown: self.unknown,
        })
    }
}

/// Requests that only read a scalar go straight to the JSON value's deserializer.
macro_rules! pass_through {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.value.$method(visitor)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Strict<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            Value::Array(items) => self.seq(items, visitor),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Array(items) => self.seq(items, visitor),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // The API types have no enum carrying fields: nothing below is looked at.
        self.value.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if !self.value.is_null() {
            let mut unknown = self.unknown.borrow_mut();
            if unknown.is_none() {
                *unknown = Some(self.path.dotted());
            }
        }
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.value.deserialize_unit_struct(name, visitor)
    }

    pass_through!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
    );
}

/// The entries of a JSON object; each value is read with its key on the path.
struct StrictMap<'de, 'a> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    path: &'a Path<'a>,
    unknown: &'a RefCell<Option<String>>,
}

impl<'de> MapAccess<'de> for StrictMap<'de, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key.as_str(), value));
        seed.deserialize(BorrowedStrDeserializer::new(key.as_str()))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom(
                "a map value was asked for before its key",
            ));
        };
        seed.deserialize(Strict {
            value,
            path: &Path::Key(self.path, key),
            unknown: self.unknown,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The items of a JSON array; each is read with its index on the path.
struct StrictSeq<'de, 'a> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: &'a Path<'a>,
    unknown: &'a RefCell<Option<String>>,
}

impl<'de> SeqAccess<'de> for StrictSeq<'de, '_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let Some((index, value)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(Strict {
            value,
            path: &Path::Index(self.path, index),
            unknown: self.unknown,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn a_known_object_reads_as_without_the_wrapper() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"a": "b"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i", "args": ["x"],
                        "ports": [{"containerPort": 22}],
                        "resources": {"limits": {"cpu": "1"}}}]}}}
        });
        let (read, unknown) = read_strict::<Deployment>(&object).expect("reads");
        assert_eq!(unknown, None);
        assert_eq!(
            read,
            serde_json::from_value::<Deployment>(object).expect("reads")
        );
    }

    #[test]
    fn the_first_unknown_field_is_named_with_its_path() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "c", "image": "i", "imagePullPolicyy": "Always"}], "hostNetwrk": true}}}
        });
        let (_, unknown) = read_strict::<Deployment>(&object).expect("reads");
        assert_eq!(
            unknown.as_deref(),
            Some("spec.template.spec.containers[0].imagePullPolicyy")
        );
    }

    #[test]
    fn an_unknown_field_set_to_null_is_no_field() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "extra": null});
        let (_, unknown) = read_strict::<ConfigMap>(&object).expect("reads");
        assert_eq!(unknown, None);
        let object =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "extra": 1});
        assert_eq!(
            read_strict::<ConfigMap>(&object)
                .expect("reads")
                .1
                .as_deref(),
            Some("extra")
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_serde_jsons_error() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}});
        let strict = read_strict::<ConfigMap>(&object).unwrap_err().to_string();
        let plain = serde_json::from_value::<ConfigMap>(object)
            .unwrap_err()
            .to_string();
        assert_eq!(strict, plain);
    }
}
