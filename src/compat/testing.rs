//! Test support: random value trees for the property tests of the parsers.

use proptest::prelude::*;
use serde_json::{Number, Value};

/// Value trees with Helm's number types for documents (float64), keys drawn from `key` and
/// strings from `text` (proptest regexes).
pub(super) fn json_tree(key: &'static str, text: &'static str) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1e15f64..1e15f64).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-100_000i64..100_000)
            .prop_map(|i| Number::from_f64(i as f64).map_or(Value::Null, Value::Number)),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
