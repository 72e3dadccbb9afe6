//! How the typed model ([`super::model`]) drives validation: every struct of the model is declared
//! through [`model_struct!`], which gives each field, next to its type, what the field is for (for
//! messages) and any rule its type does not carry. The checker ([`super::validate`]) walks the
//! model: a key's name is serde's name of the field, it is required unless it is an `Option` or
//! has `#[serde(default)]` (as serde and the model's schema take it), and the rule is the field
//! type's [`Checked`] impl. A key is spelled once, as a Rust field name.

use super::path::KeyPath;
use super::validate::Checker;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A rule for text that a model field's type (`String`) does not carry.
type TextRule = fn(&str) -> Result<(), String>;

/// What the checker needs to know about one field beyond its type.
#[derive(Clone, Copy)]
pub(super) enum Spec {
    /// The field's type checks it. `what` describes the field in messages (`required: <what>`);
    /// `text` is a further rule for text; `unquoted` says the text is printed unquoted into
    /// YAML and must read back as the same string.
    Typed {
        what: &'static str,
        text: Option<TextRule>,
        unquoted: bool,
    },
    /// A rule that also reads or records other keys; it gets the field's path and whether the
    /// field is required.
    Custom(fn(&mut Checker<'_>, &KeyPath, bool)),
}

impl Spec {
    /// What the field is for, in messages.
    pub(super) fn what(&self) -> &'static str {
        match self {
            Spec::Typed { what, .. } => what,
            Spec::Custom(_) => "",
        }
    }
}

/// A field whose type checks it; `what` is for messages.
pub(super) const fn what(what: &'static str) -> Spec {
    Spec::Typed {
        what,
        text: None,
        unquoted: false,
    }
}

/// A text field with a further rule.
pub(super) const fn text(what: &'static str, rule: TextRule) -> Spec {
    Spec::Typed {
        what,
        text: Some(rule),
        unquoted: false,
    }
}

/// A text field printed unquoted into YAML, with a further rule.
pub(super) const fn unquoted_text(what: &'static str, rule: TextRule) -> Spec {
    Spec::Typed {
        what,
        text: Some(rule),
        unquoted: true,
    }
}

/// A field checked by a rule that reads other keys too.
pub(super) const fn custom(rule: fn(&mut Checker<'_>, &KeyPath, bool)) -> Spec {
    Spec::Custom(rule)
}

/// A model type's own rule, applied to the value at `path` (which may be absent).
pub(super) trait Checked {
    /// Whether a field of this type may be absent without `#[serde(default)]` (serde reads an
    /// absent `Option` field as `None`).
    const OPTIONAL: bool = false;

    /// Checks the value at `path`; `required` comes from the model (the field is neither an
    /// `Option` nor defaulted).
    fn check(checker: &mut Checker<'_>, path: &KeyPath, required: bool, spec: &Spec);
}

/// A struct of the model: its fields are checked one by one, in declaration order.
pub(super) trait Fields {
    /// Whether each field, in declaration order, must be present: neither an `Option` nor
    /// defaulted by `#[serde(default)]` (on the field or the struct).
    const REQUIRED: &'static [bool];

    /// Checks every field of the map at `path` (already known to be a map).
    fn check_fields(checker: &mut Checker<'_>, path: &KeyPath);
}

/// An optional field: absent or null is fine; otherwise the inner type's rule.
impl<T: Checked> Checked for Option<T> {
    const OPTIONAL: bool = true;

    fn check(checker: &mut Checker<'_>, path: &KeyPath, _required: bool, spec: &Spec) {
        T::check(checker, path, false, spec);
    }
}

/// Declares a struct of the typed model: the struct itself (attributes pass through to serde and
/// schemars), its [`Fields`] impl and its [`Checked`] impl (a map, then its fields). Each field is written `pub name: Type => spec`, where
/// `spec` is [`what`], [`text`], [`unquoted_text`] or [`custom`].
macro_rules! model_struct {
    (
        $(#[$($attr:tt)*])*
        pub struct $name:ident {
            $(
                $(#[$($field_attr:tt)*])*
                pub $field:ident : $ty:ty => $spec:expr
            ),* $(,)?
        }
    ) => {
        $(#[$($attr)*])*
        pub struct $name {
            $(
                $(#[$($field_attr)*])*
                pub $field: $ty,
            )*
        }

        impl $crate::release::values::fields::Fields for $name {
            const REQUIRED: &'static [bool] = {
                use $crate::release::values::fields::Checked;
                // `#[serde(default)]` on the struct defaults every field.
                const STRUCT_DEFAULT: bool =
                    false $(|| $crate::release::values::fields::serde_default!($($attr)*))*;
                &[$(
                    !(<$ty as Checked>::OPTIONAL
                        || STRUCT_DEFAULT
                        $(|| $crate::release::values::fields::serde_default!($($field_attr)*))*)
                ),*]
            };

            fn check_fields(
                checker: &mut $crate::release::values::validate::Checker<'_>,
                path: &$crate::release::values::path::KeyPath,
            ) {
                use $crate::release::values::fields::{self, Checked, Spec};
                // serde announces the names only through a failed deserialization: asked once.
                static KEYS: std::sync::OnceLock<&'static [&'static str]> =
                    std::sync::OnceLock::new();
                let mut keys = KEYS
                    .get_or_init(fields::serde_fields::<$name>)
                    .iter()
                    .zip(Self::REQUIRED);
                // One path for all the fields: each field's key is put at its end in turn.
                let mut field_path = path.with_room_for_one();
                $(
                    if let Some((key, &is_required)) = keys.next() {
                        field_path.push_static_key(key);
                        let spec: Spec = $spec;
                        match spec {
                            Spec::Custom(rule) => rule(checker, &field_path, is_required),
                            Spec::Typed { .. } => {
                                <$ty as Checked>::check(checker, &field_path, is_required, &spec)
                            }
                        }
                        field_path.pop();
                    }
                )*
            }
        }

        impl $crate::release::values::fields::Checked for $name {
            fn check(
                checker: &mut $crate::release::values::validate::Checker<'_>,
                path: &$crate::release::values::path::KeyPath,
                required: bool,
                spec: &$crate::release::values::fields::Spec,
            ) {
                checker.model_struct::<$name>(path, required, spec.what());
            }
        }
    };
}
pub(super) use model_struct;

/// Whether one attribute (its tokens inside `#[...]`) is a `serde(...)` naming `default`, which
/// lets serde fill in an absent field.
macro_rules! serde_default {
    (serde($($inner:tt)*)) => {
        $crate::release::values::fields::names_default!($($inner)*)
    };
    ($($other:tt)*) => {
        false
    };
}
pub(super) use serde_default;

/// Whether the bare word `default` is among the tokens of a `serde(...)` attribute (`default` or
/// `default = "path"`; a quoted "default" is one literal token and does not count).
macro_rules! names_default {
    () => {
        false
    };
    (default $($rest:tt)*) => {
        true
    };
    ($first:tt $($rest:tt)*) => {
        $crate::release::values::fields::names_default!($($rest)*)
    };
}
pub(super) use names_default;

/// serde's names of a struct's fields, in declaration order (renames applied), as its derived
/// `Deserialize` announces them.
pub(super) fn serde_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut names = FieldNames(&[]);
    let _ = T::deserialize(&mut names);
    names.0
}

/// The fields the model's schema lists as required: neither `Option` nor defaulted.
#[cfg(test)]
pub(super) fn required_fields<T: schemars::JsonSchema + for<'de> Deserialize<'de>>()
-> Vec<&'static str> {
    use serde_json::Value;
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let listed: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    serde_fields::<T>()
        .iter()
        .copied()
        .filter(|field| listed.contains(field))
        .collect()
}

/// A deserializer that only records the field names a struct's `Deserialize` asks for.
struct FieldNames(&'static [&'static str]);

impl<'de> Deserializer<'de> for &mut FieldNames {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("only a struct's field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::values::model;

    #[test]
    fn field_names_and_required_fields_come_from_serde_and_the_schema() {
        assert_eq!(serde_fields::<model::GatewayService>(), ["port", "type"]);
        assert_eq!(
            serde_fields::<model::BastionSsh>(),
            ["port", "privateKey", "userName"]
        );
        assert_eq!(required_fields::<model::GatewayValues>(), ["image", "ssh"]);
        assert_eq!(
            required_fields::<model::GatewayTunnelService>(),
            ["sourcePort", "sourceNodePort"]
        );
        assert!(required_fields::<model::Resources>().is_empty());
    }

    /// Which keys must be present is decided from the field types and serde attributes when
    /// values are checked; it must be what the model's schema (schemars) says, for every struct.
    #[test]
    fn required_keys_are_those_the_schema_requires() {
        fn same<T: Fields + schemars::JsonSchema + for<'de> Deserialize<'de>>() {
            let required_keys: Vec<&str> = serde_fields::<T>()
                .iter()
                .zip(T::REQUIRED)
                .filter(|(_, required)| **required)
                .map(|(key, _)| *key)
                .collect();
            assert_eq!(
                required_keys,
                required_fields::<T>(),
                "{}",
                std::any::type_name::<T>()
            );
        }
        same::<model::GatewayValues>();
        same::<model::BastionValues>();
        same::<model::Image>();
        same::<model::Resources>();
        same::<model::GatewaySsh>();
        same::<model::GatewayService>();
        same::<model::GatewayTunnelService>();
        same::<model::GatewayTunnel>();
        same::<model::BastionSsh>();
        same::<model::BastionGateway>();
        same::<model::BastionService>();
        same::<model::BastionTunnel>();
        // Every struct declared with `model_struct!` is listed above.
        let declared = include_str!("model.rs")
            .matches("\nmodel_struct! {")
            .count();
        assert_eq!(declared, 12);
    }
}
