//! Helm's two merge steps: `-f` files are merged into each other (later wins, maps merge
//! deeply, anything else replaces), then the user's values are *coalesced* with the chart's
//! defaults (user wins; a user `null` deletes a key the defaults have; a `null` for a key the
//! defaults lack stays as null).

use serde_json::{Map, Value};

use super::path::KeyPath;

/// Helm's `mergeMaps` (pkg/cli/values): merges `overlay` into `base`. `on_assign` is called
/// for each path whose value `overlay` replaces.
pub(super) fn merge_maps(
    base: &mut Map<String, Value>,
    overlay: Map<String, Value>,
    path: &KeyPath,
    on_assign: &mut dyn FnMut(&KeyPath, &Value),
) {
    for (key, value) in overlay {
        let key_path = path.key(&key);
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                merge_maps(existing, incoming, &key_path, on_assign);
            }
            (_, value) => {
                on_assign(&key_path, &value);
                base.insert(key, value);
            }
        }
    }
}

/// Helm's `CoalesceValues`: fills `user` from `defaults`, user values winning.
pub(super) fn coalesce(
    defaults: &Map<String, Value>,
    mut user: Map<String, Value>,
) -> Map<String, Value> {
    coalesce_tables(&mut user, defaults);
    user
}

fn coalesce_tables(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (key, default) in src {
        match dst.get_mut(key) {
            None => {
                dst.insert(key.clone(), default.clone());
            }
            Some(Value::Null) => {
                dst.remove(key);
            }
            Some(Value::Object(user_table)) => {
                // A user table over a default scalar stays as it is (Helm only warns).
                if let Value::Object(default_table) = default {
                    coalesce_tables(user_table, default_table);
                }
            }
            // A user scalar or list wins, also over a default table (Helm warns, keeps it).
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn later_file_wins_and_maps_merge() {
        let mut base = obj(json!({"ssh": {"userName": "a", "port": 1}, "image": {"tag": "a"}}));
        let mut assigned = Vec::new();
        merge_maps(
            &mut base,
            obj(json!({"ssh": {"userName": "b"}, "list": [1], "image": null})),
            &KeyPath::root(),
            &mut |p, _| assigned.push(p.to_string()),
        );
        assert_eq!(
            base,
            obj(json!({"ssh": {"userName": "b", "port": 1}, "image": null, "list": [1]}))
        );
        assert_eq!(assigned, vec!["image", "list", "ssh.userName"]);
    }

    #[test]
    fn null_deletes_a_default_key() {
        let defaults = obj(
            json!({"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}, "ssh": {"port": 2222}}),
        );
        let user = obj(json!({"resources": {"limits": null}, "ssh": {"port": null}}));
        assert_eq!(
            coalesce(&defaults, user),
            obj(json!({"resources": {"requests": {"cpu": "1"}}, "ssh": {}}))
        );
    }

    #[test]
    fn null_without_default_stays() {
        let defaults = obj(json!({"ssh": {"port": 2222}}));
        let user = obj(json!({"tunnel": {"service": null}}));
        assert_eq!(
            coalesce(&defaults, user),
            obj(json!({"ssh": {"port": 2222}, "tunnel": {"service": null}}))
        );
    }

    #[test]
    fn lists_and_scalars_replace_tables() {
        let defaults = obj(json!({"service": {"port": 1}, "resources": {"limits": {}}}));
        let user = obj(json!({"service": [1], "resources": {}}));
        assert_eq!(
            coalesce(&defaults, user),
            obj(json!({"service": [1], "resources": {"limits": {}}}))
        );
    }

    #[test]
    fn top_level_null_deletes() {
        let defaults = obj(json!({"resources": {"limits": {}}}));
        assert_eq!(
            coalesce(&defaults, obj(json!({"resources": null}))),
            Map::new()
        );
    }
}
