//! Validation of a release's merged values before anything is rendered: every rule of the
//! chart (required keys, ports, keys, hosts, image, resources), unknown keys with a "did you
//! mean", text that would break the unquoted YAML it is printed into, and the release name and
//! every object name derived from it. All problems are reported, one line each; a private key's
//! value is never shown.

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use super::fields::{Checked, Fields, Spec};
use super::model;
use super::path::KeyPath;
use super::rules::{self, is_truthy};
use super::sshkey;
use super::{ChartKind, Origin, Values};

/// One validation problem; `Display` is one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Helm itself would refuse the release name.
    #[error("release name {release:?}: {rule}")]
    ReleaseName {
        /// The release name.
        release: String,
        /// The rule it breaks.
        rule: String,
    },
    /// An object name derived from the release name (or an override) that Kubernetes refuses.
    #[error("{chart} {subject}: makes the {object} name {name:?}, which {rule}")]
    ObjectName {
        /// The chart.
        chart: ChartKind,
        /// What the name comes from (`release name "x"`, `value fullnameOverride = ...`).
        subject: String,
        /// The kind of object (or label) the name is for.
        object: &'static str,
        /// The derived name.
        name: String,
        /// The rule it breaks.
        rule: String,
    },
    /// A key that no template of the chart reads.
    #[error("{chart} value {key}{}: unknown key, no template of the {chart} chart reads it{}{}",
        origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default(),
        suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default(),
        other_chart.map(|c| format!(" ({key} is a {c} value)")).unwrap_or_default())]
    UnknownKey {
        /// The chart.
        chart: ChartKind,
        /// The key's path.
        key: String,
        /// Where it was set.
        origin: Option<String>,
        /// The closest key the chart has.
        suggestion: Option<String>,
        /// The other chart, if it has this key.
        other_chart: Option<ChartKind>,
    },
    /// A required value that is absent or null.
    #[error("{chart} value {key} is missing{}: {rule}",
        origin.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Missing {
        /// The chart.
        chart: ChartKind,
        /// The key's path.
        key: String,
        /// Why it is missing (`set to null by --set #1`, `the chart default is empty`).
        origin: Option<String>,
        /// What is expected.
        rule: String,
    },
    /// A value that breaks a rule.
    #[error("{chart} value {key} = {value}{}: {rule}",
        origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default())]
    InvalidValue {
        /// The chart.
        chart: ChartKind,
        /// The key's path.
        key: String,
        /// The value as shown to the user (`(hidden)` for secrets).
        value: String,
        /// Where it was set.
        origin: Option<String>,
        /// The rule it breaks.
        rule: String,
    },
}

/// Every problem found. `Display` writes one problem per line; every line after the first
/// starts with `error: `, so printing it after an `error: ` prefix gives one `error:` line each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, error) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\nerror: ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// How a value is shown in an error: strings quoted, numbers as the template prints them,
/// secrets hidden, long text shortened.
fn show(path: &KeyPath, value: &Value) -> String {
    let secret_key = path.last_key().is_some_and(super::model::is_secret_key);
    let looks_secret = |s: &str| s.contains("PRIVATE KEY") || s.starts_with("LS0tLS1CRUdJTi");
    match value {
        Value::String(s) if secret_key || looks_secret(s) => "(hidden)".into(),
        _ if secret_key => "(hidden)".into(),
        Value::String(s) => {
            let quoted = serde_json::to_string(s).unwrap_or_default();
            shorten(quoted)
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => match value {
            Value::Null => "null".into(),
            other => rules::printed(other),
        },
        other => {
            let text = other.to_string();
            if looks_secret(&text) {
                "(hidden)".into()
            } else {
                shorten(text)
            }
        }
    }
}

fn shorten(text: String) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

/// Walks a release's values along the typed model ([`super::fields`]), collecting every problem.
pub(super) struct Checker<'a> {
    chart: ChartKind,
    values: &'a Values,
    errors: Vec<ValidationError>,
    flagged: Vec<KeyPath>,
    /// What the walk saw that later rules (other keys, the derived object names) read.
    seen: Seen,
}

/// Values recorded during the walk for rules that read more than one key.
#[derive(Default)]
struct Seen {
    /// `nameOverride` and `fullnameOverride` where set: their path and value.
    name_override: Option<(KeyPath, Value)>,
    fullname_override: Option<(KeyPath, Value)>,
    /// The sshd NodePort Service's port when it is on (a true value) and, if valid, its number.
    sshd_port_on: bool,
    sshd_node_port: Option<u16>,
    /// The sshd NodePort Service's type as written, when text.
    sshd_service_type: Option<String>,
    /// The tunnel Service's node port as written, when set.
    tunnel_node_port: Option<Value>,
    /// The resource limits read so far (name → amount), and where they are.
    limits: Option<(KeyPath, std::collections::BTreeMap<String, f64>)>,
}

impl<'a> Checker<'a> {
    /// The value at `path`, borrowed from the values (not from the checker, which stays free to
    /// record problems while it is held).
    fn get(&self, path: &KeyPath) -> Option<&'a Value> {
        self.values.get(path)
    }

    fn origin(&self, path: &KeyPath) -> Option<String> {
        self.values.origin_at(path).map(ToString::to_string)
    }

    fn invalid(&mut self, path: &KeyPath, rule: impl Into<String>) {
        let value = self.get(path).cloned().unwrap_or(Value::Null);
        self.errors.push(ValidationError::InvalidValue {
            chart: self.chart,
            key: path.to_string(),
            value: show(path, &value),
            origin: self.origin(path),
            rule: rule.into(),
        });
        self.flagged.push(path.clone());
    }

    fn missing(&mut self, path: &KeyPath, rule: impl Into<String>) {
        let how = match self.get(path) {
            Some(Value::String(_)) => "set empty",
            _ => "set to null",
        };
        let origin = match self.values.origin_at(path) {
            Some(Origin::ChartDefaults) => Some("the chart default is empty".to_owned()),
            Some(other) => Some(format!("{how} by {other}")),
            None => None,
        };
        self.errors.push(ValidationError::Missing {
            chart: self.chart,
            key: path.to_string(),
            origin,
            rule: rule.into(),
        });
        self.flagged.push(path.clone());
    }

    /// The value at `path` if it is present and not null; reports it missing otherwise.
    fn required(&mut self, path: &KeyPath, rule: &str) -> Option<&'a Value> {
        match self.get(path) {
            None | Some(Value::Null) => {
                self.missing(path, format!("required: {rule}"));
                None
            }
            Some(v) => Some(v),
        }
    }

    /// The value at `path` if the field is required (reported missing when absent or null) or,
    /// for an optional field, when it is present and not null.
    fn present(&mut self, path: &KeyPath, required: bool, rule: &str) -> Option<&'a Value> {
        if required {
            return self.required(path, rule);
        }
        self.get(path).filter(|v| !v.is_null())
    }

    /// A value that `parse` reads (a model type's own rule): reported missing when the field is
    /// required and absent or null, invalid with `parse`'s message when it does not parse.
    pub(super) fn parsed<T>(
        &mut self,
        path: &KeyPath,
        required: bool,
        spec: &Spec,
        parse: fn(&Value) -> Result<T, String>,
    ) {
        if let Some(value) = self.present(path, required, spec.what())
            && let Err(rule) = parse(value)
        {
            self.invalid(path, rule);
        }
    }

    /// A map that must be present (the templates read keys inside it).
    fn required_map(&mut self, path: &KeyPath, what: &str) -> bool {
        match self.required(path, what) {
            Some(Value::Object(_)) => true,
            Some(_) => {
                self.invalid(path, format!("must be a map: {what}"));
                false
            }
            None => false,
        }
    }

    /// A map or null/absent (an optional section).
    fn optional_map(&mut self, path: &KeyPath) -> Option<&'a serde_json::Map<String, Value>> {
        if !self.is_optional_map(path) {
            return None;
        }
        match self.get(path) {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// Whether an optional section is there as a map (absent and null are not; anything else is
    /// reported). Nothing is copied.
    fn is_optional_map(&mut self, path: &KeyPath) -> bool {
        match self.get(path) {
            None | Some(Value::Null) => false,
            Some(Value::Object(_)) => true,
            Some(_) => {
                self.invalid(path, "must be a map (or null)");
                false
            }
        }
    }

    /// A struct of the model at `path`: the map must be there (or, optional, be absent or null);
    /// then every field is checked.
    pub(super) fn model_struct<T: Fields>(&mut self, path: &KeyPath, required: bool, what: &str) {
        let is_map = if required {
            self.required_map(path, what)
        } else {
            self.is_optional_map(path)
        };
        if is_map {
            T::check_fields(self, path);
        }
    }

    /// Text printed unquoted into a ConfigMap: must read back as the same string.
    fn unquoted_text(&mut self, path: &KeyPath, text: &str) -> bool {
        if rules::reads_back_unquoted(text) {
            return true;
        }
        self.invalid(path, rules::unquoted_problem(text));
        false
    }

    /// Whether a section that a template tests with `if` is there: a map, not absent or empty
    /// ([`rules::is_empty_value`]: the section is left out); anything else is reported.
    fn section(&mut self, path: &KeyPath) -> bool {
        match self.get(path) {
            None => false,
            Some(value) if rules::is_empty_value(value) => false,
            Some(Value::Object(_)) => true,
            Some(_) => {
                self.invalid(
                    path,
                    "must be a map, or empty (null, false, 0, \"\", [] or {}) to leave it out",
                );
                false
            }
        }
    }

    /// One resource amount map (`limits` or `requests`): resource names and quantities.
    fn amounts(&mut self, path: &KeyPath) -> std::collections::BTreeMap<String, f64> {
        let mut amounts = std::collections::BTreeMap::new();
        let Some(entries) = self.optional_map(path) else {
            return amounts;
        };
        for (name, amount) in entries {
            let entry = path.key(name);
            if !rules::is_resource_name(name) {
                self.invalid(
                    &entry,
                    format!("{name:?} is not a resource name: use cpu, memory, ephemeral-storage, hugepages-<size> or a domain-qualified name such as nvidia.com/gpu"),
                );
                continue;
            }
            match model::quantity_value(amount) {
                Ok(value) => {
                    amounts.insert(name.clone(), value);
                }
                Err(rule) => self.invalid(&entry, rule),
            }
        }
        amounts
    }
}

/// Free-form maps (`global`): a map, or absent or null when optional; what is inside is not read.
impl<T> Checked for std::collections::BTreeMap<String, T> {
    fn check(c: &mut Checker<'_>, path: &KeyPath, required: bool, spec: &Spec) {
        if required {
            c.required_map(path, spec.what());
        } else {
            c.is_optional_map(path);
        }
    }
}

/// Lists (the ones the model has are read by custom rules): a list, or absent or null.
impl<T> Checked for Vec<T> {
    fn check(c: &mut Checker<'_>, path: &KeyPath, required: bool, spec: &Spec) {
        match c.get(path) {
            Some(Value::Array(_)) => {}
            None | Some(Value::Null) if required => {
                c.missing(path, format!("required: {}", spec.what()))
            }
            None | Some(Value::Null) => {}
            Some(_) => c.invalid(path, "must be a list (or null)"),
        }
    }
}

impl Checked for String {
    fn check(c: &mut Checker<'_>, path: &KeyPath, required: bool, spec: &Spec) {
        let Spec::Typed {
            what,
            text,
            unquoted,
        } = *spec
        else {
            return;
        };
        let value = match c.present(path, required, what) {
            Some(value) => value,
            None => return,
        };
        let text_value = match value {
            Value::String(s) if !s.is_empty() => s,
            Value::String(_) => {
                c.missing(path, format!("required: {what}"));
                return;
            }
            _ => {
                c.invalid(path, format!("must be text: {what}"));
                return;
            }
        };
        if unquoted && !c.unquoted_text(path, text_value) {
            return;
        }
        if let Some(rule) = text
            && let Err(problem) = rule(text_value)
        {
            c.invalid(path, problem);
        }
    }
}

/// Read by [`sshd_node_port`], which knows what an empty value means there.
impl Checked for model::NodePortOrOff {
    fn check(_: &mut Checker<'_>, _: &KeyPath, _: bool, _: &Spec) {}
}

/// Read by [`name_override`] and [`fullname_override`], which also record it.
impl Checked for model::NameOverride {
    fn check(_: &mut Checker<'_>, _: &KeyPath, _: bool, _: &Spec) {}
}

impl Checked for model::ImageTag {
    fn check(c: &mut Checker<'_>, path: &KeyPath, _: bool, _: &Spec) {
        if let Some(value) = c.get(path)
            && let Err(rule) = rules::image_tag(value, c.values.literal_at(path))
        {
            c.invalid(path, rule);
        }
    }
}

/// An enum of the model: one of its variants, as serde reads them.
fn check_enum<T: serde::de::DeserializeOwned + schemars::JsonSchema>(
    c: &mut Checker<'_>,
    path: &KeyPath,
    required: bool,
    extra: &str,
) {
    // The variants are listed (from the schema) only for a message.
    let value = match c.get(path) {
        None | Some(Value::Null) if required => {
            c.missing(path, format!("required: {}", model::variant_list::<T>()));
            return;
        }
        None | Some(Value::Null) => return,
        Some(value) => value,
    };
    if !model::is_variant::<T>(value) {
        c.invalid(
            path,
            format!("must be {}{extra}", model::variant_list::<T>()),
        );
    }
}

impl Checked for model::PullPolicy {
    fn check(c: &mut Checker<'_>, path: &KeyPath, required: bool, _: &Spec) {
        check_enum::<Self>(c, path, required, "");
    }
}

impl Checked for model::ServiceType {
    fn check(c: &mut Checker<'_>, path: &KeyPath, required: bool, _: &Spec) {
        check_enum::<Self>(c, path, required, "");
    }
}

impl<T: Fields> Checked for model::Section<T> {
    fn check(c: &mut Checker<'_>, path: &KeyPath, _: bool, _: &Spec) {
        if c.section(path) {
            T::check_fields(c, path);
        }
    }
}

/// `nameOverride`: text or empty; recorded for the object names.
pub(super) fn name_override(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    c.seen.name_override = check_name_override(c, path);
}

/// `fullnameOverride`: text or empty; recorded for the object names.
pub(super) fn fullname_override(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    c.seen.fullname_override = check_name_override(c, path);
}

fn check_name_override(c: &mut Checker<'_>, path: &KeyPath) -> Option<(KeyPath, Value)> {
    let value = c.get(path)?.clone();
    if let Err(rule) = rules::name_override(&value) {
        c.invalid(path, rule);
    }
    Some((path.clone(), value))
}

/// The sshd Service's node port: off when empty, else a node port; recorded for the tunnel's
/// node port and the Service's name.
pub(super) fn sshd_node_port(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    let Some(port) = c.get(path) else {
        return;
    };
    if !is_truthy(Some(port)) {
        return;
    }
    c.seen.sshd_port_on = true;
    match model::NodePort::parse(port) {
        Ok(n) => c.seen.sshd_node_port = Some(n),
        Err(rule) => c.invalid(
            path,
            format!("{rule} (or empty, null, 0 or false for no sshd NodePort Service)"),
        ),
    }
}

/// The sshd Service's type: required when the Service has a node port (only some types have
/// one); recorded for the Service's name.
pub(super) fn sshd_service_type(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    if let Some(Value::String(kind)) = c.get(path) {
        c.seen.sshd_service_type = Some(kind.clone());
    }
    // Set, it must be one of the types in any case (the model's type); required only when the
    // Service is on.
    let on = c.seen.sshd_port_on;
    let reason = if on {
        ": service.port sets a node port, which other Service types do not have"
    } else {
        ""
    };
    check_enum::<model::ServiceType>(c, path, on, reason);
}

/// The tunnel Service's node port: a node port that the sshd Service does not already use.
pub(super) fn tunnel_node_port(c: &mut Checker<'_>, path: &KeyPath, required: bool) {
    if let Some(port) = c.get(path).filter(|v| !v.is_null()) {
        c.seen.tunnel_node_port = Some(port.clone());
    }
    if let Some(value) = c.present(
        path,
        required,
        "the node port exposing sourcePort (set sourcePort and sourceNodePort together)",
    ) {
        match model::NodePort::parse(value) {
            Err(rule) => c.invalid(path, rule),
            Ok(n) if Some(n) == c.seen.sshd_node_port => c.invalid(
                path,
                "is already the sshd NodePort (service.port); two Services cannot share a node port",
            ),
            Ok(_) => {}
        }
    }
}

/// `resources.limits`: resource names and quantities, kept for the requests.
pub(super) fn resource_limits(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    let limits = c.amounts(path);
    c.seen.limits = Some((path.clone(), limits));
}

/// `resources.requests`: resource names and quantities, none above its limit.
pub(super) fn resource_requests(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    let requests = c.amounts(path);
    let Some((limits_path, limits)) = c.seen.limits.take() else {
        return;
    };
    for (name, request) in &requests {
        if let Some(limit) = limits.get(name)
            && request > limit
        {
            let limit_path = limits_path.key(name);
            c.invalid(
                &path.key(name),
                format!(
                    "the request is above the limit {limit_path} = {}",
                    limit_text(c.get(&limit_path))
                ),
            );
        }
    }
}

/// `resources.claims`: a list of `{name: <claim>}`.
pub(super) fn resource_claims(c: &mut Checker<'_>, path: &KeyPath, _: bool) {
    match c.get(path) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.get("name").and_then(Value::as_str);
                match (item, name) {
                    (Value::Object(_), Some(name)) if rules::is_dns1123_label(name) => {}
                    _ => c.invalid(
                        &path.index(i),
                        "must be a claim {name: <a pod resource claim name>}",
                    ),
                }
            }
        }
        Some(_) => c.invalid(path, "must be a list of {name: ...} claims"),
    }
}

/// `ssh.publicKey`: one OpenSSH public key line.
pub(super) fn public_key_line(text: &str) -> Result<(), String> {
    sshkey::check_public_key_line(text).map(|_| ())
}

/// `tunnel.gateway.ssh.privateKey`: base64 of an unencrypted private key file.
pub(super) fn private_key_base64(text: &str) -> Result<(), String> {
    sshkey::check_private_key_base64(text).map(|_| ())
}

/// The gateway's public address: a host name or an IP address.
pub(super) fn gateway_host(host: &str) -> Result<(), String> {
    if rules::is_hostname(host) || rules::is_ipv4(host) || rules::is_ipv6(host) {
        Ok(())
    } else {
        Err("must be a host name or an IP address".to_owned())
    }
}

/// The forwarded service's host: what `ssh -R` takes unbracketed.
pub(super) fn target_host(host: &str) -> Result<(), String> {
    if rules::is_ipv6(host) {
        Err("is an IPv6 address, which the ssh -R forward spec cannot take unbracketed; use a DNS name".to_owned())
    } else if !(rules::is_hostname(host) || rules::is_ipv4(host)) {
        Err("must be a DNS name or an IPv4 address (no port, no spaces)".to_owned())
    } else {
        Ok(())
    }
}

impl Checker<'_> {
    fn names(&mut self, release: &str) {
        if release.len() > 53 || !rules::is_dns1123_subdomain(release) {
            let rule = if release.len() > 53 {
                format!("is {} characters; Helm allows at most 53", release.len())
            } else {
                "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (Helm's rule)".into()
            };
            self.errors.push(ValidationError::ReleaseName {
                release: release.to_owned(),
                rule,
            });
            return;
        }
        let text_of = |set: &Option<(KeyPath, Value)>| match set {
            None => None,
            Some((_, value)) if rules::is_empty_value(value) => None,
            Some((_, Value::String(s))) => Some(s.clone()),
            Some(_) => Some(String::new()),
        };
        let name_override = text_of(&self.seen.name_override);
        let fullname_override = text_of(&self.seen.fullname_override);
        if name_override.as_deref() == Some("") || fullname_override.as_deref() == Some("") {
            return; // not text: already reported
        }
        let subject_of = |c: &Self, set: &Option<(KeyPath, Value)>| {
            let Some((path, value)) = set else {
                return String::new();
            };
            match c.origin(path) {
                Some(o) => format!("value {path} = {} (from {o})", show(path, value)),
                None => format!("value {path} = {}", show(path, value)),
            }
        };
        let chart_name = self.chart.name();
        let name = name_override
            .clone()
            .unwrap_or_else(|| chart_name.to_owned());
        let label_subject = if name_override.is_some() {
            subject_of(self, &self.seen.name_override)
        } else {
            format!("chart name {chart_name:?}")
        };
        let subject = match (
            fullname_from(release, &name, fullname_override.as_deref()),
            &name_override,
        ) {
            (FullnameFrom::Override, _) => subject_of(self, &self.seen.fullname_override),
            (FullnameFrom::ReleaseAndName, Some(_)) => format!(
                "release name {release:?} with {}",
                subject_of(self, &self.seen.name_override)
            ),
            _ => format!("release name {release:?}"),
        };
        let fullname = fullname(release, &name, fullname_override.as_deref());

        let mut name_checks: Vec<NameCheck> = Vec::new();
        let label = rules::trunc63_trim(&name);
        match &label {
            Ok(l) => name_checks.push(NameCheck::new(
                label_subject.clone(),
                l.clone(),
                "app.kubernetes.io/name label",
                label_ok,
                LABEL_RULE,
            )),
            Err(lossy) => self.errors.push(ValidationError::ObjectName {
                chart: self.chart,
                subject: label_subject.clone(),
                object: "app.kubernetes.io/name label",
                name: lossy.clone(),
                rule: "is cut at 63 bytes inside a multi-byte character, leaving invalid UTF-8"
                    .into(),
            }),
        }
        name_checks.push(NameCheck::new(
            format!("release name {release:?}"),
            release.to_owned(),
            "app.kubernetes.io/instance label",
            label_ok,
            LABEL_RULE,
        ));
        let fullname = match fullname {
            Ok(f) => f,
            Err(lossy) => {
                self.errors.push(ValidationError::ObjectName {
                    chart: self.chart,
                    subject,
                    object: "object",
                    name: lossy,
                    rule: "is cut at 63 bytes inside a multi-byte character, leaving invalid UTF-8"
                        .into(),
                });
                return self.report_names(name_checks);
            }
        };
        let kinds: &[&'static str] = match self.chart {
            ChartKind::Gateway => &["ConfigMap", "Deployment"],
            ChartKind::Bastion => &["Secret", "ConfigMap", "Deployment"],
        };
        for kind in kinds {
            name_checks.push(NameCheck::new(
                subject.clone(),
                fullname.clone(),
                kind,
                rules::is_dns1123_subdomain,
                SUBDOMAIN_RULE,
            ));
        }
        if self.chart == ChartKind::Gateway {
            name_checks.push(NameCheck::new(
                subject.clone(),
                fullname.clone(),
                "Service",
                rules::is_dns1035_label,
                SERVICE_RULE,
            ));
            if self.seen.sshd_port_on
                && let Some(kind) = &self.seen.sshd_service_type
            {
                let kind = kind.to_lowercase();
                name_checks.push(NameCheck::new(
                    subject.clone(),
                    format!("{fullname}-{kind}"),
                    "NodePort Service",
                    rules::is_dns1035_label,
                    SERVICE_RULE,
                ));
            }
            if let Some(port) = &self.seen.tunnel_node_port {
                let printed = rules::printed(port);
                name_checks.push(NameCheck::new(
                    subject.clone(),
                    format!("{fullname}-{printed}"),
                    "tunnel Service",
                    rules::is_dns1035_label,
                    SERVICE_RULE,
                ));
            }
        }
        self.report_names(name_checks);
    }

    fn report_names(&mut self, checks: Vec<NameCheck>) {
        let mut seen = std::collections::BTreeSet::new();
        for NameCheck {
            subject,
            name,
            object,
            valid,
            rule,
        } in checks
        {
            if valid(&name) || !seen.insert((subject.clone(), name.clone())) {
                continue;
            }
            let rule = if name.len() > 63 && rule != SUBDOMAIN_RULE {
                format!(
                    "is {} characters; at most 63 are allowed (use a shorter release name or set fullnameOverride)",
                    name.len()
                )
            } else {
                rule.to_owned()
            };
            self.errors.push(ValidationError::ObjectName {
                chart: self.chart,
                subject,
                object,
                name,
                rule,
            });
        }
    }
}

/// Which value the chart's `fullname` helper takes the object name from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FullnameFrom {
    /// `fullnameOverride`.
    Override,
    /// The release name, which already contains the chart name.
    Release,
    /// `<release>-<name>`.
    ReleaseAndName,
}

fn fullname_from(release: &str, name: &str, fullname_override: Option<&str>) -> FullnameFrom {
    if fullname_override.is_some() {
        FullnameFrom::Override
    } else if release.contains(name) {
        FullnameFrom::Release
    } else {
        FullnameFrom::ReleaseAndName
    }
}

/// The object name the charts' `fullname` helper (`templates/_helpers.tpl`) prints, or the lossy
/// text when the 63-byte cut splits a character. It is computed here, before rendering, because
/// the message must name the value that makes a bad name, which the rendered name cannot say; a
/// test renders both charts and compares, so the two cannot drift apart.
pub(crate) fn fullname(
    release: &str,
    name: &str,
    fullname_override: Option<&str>,
) -> Result<String, String> {
    match fullname_from(release, name, fullname_override) {
        FullnameFrom::Override => rules::trunc63_trim(fullname_override.unwrap_or_default()),
        FullnameFrom::Release => rules::trunc63_trim(release),
        FullnameFrom::ReleaseAndName => rules::trunc63_trim(&format!("{release}-{name}")),
    }
}

/// One derived name to check: what it comes from, the name, what it names, and its rule.
struct NameCheck {
    subject: String,
    name: String,
    object: &'static str,
    valid: fn(&str) -> bool,
    rule: &'static str,
}

impl NameCheck {
    fn new(
        subject: String,
        name: String,
        object: &'static str,
        valid: fn(&str) -> bool,
        rule: &'static str,
    ) -> Self {
        NameCheck {
            subject,
            name,
            object,
            valid,
            rule,
        }
    }
}

const LABEL_RULE: &str = "must be a label value that reads back as text: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, and not a YAML boolean, null or number such as off, yes or 123";
const SUBDOMAIN_RULE: &str = "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
const SERVICE_RULE: &str = "must be a DNS-1035 label, as every Service name: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters (no dots)";

/// A label value printed unquoted: valid for Kubernetes and read back as text.
fn label_ok(text: &str) -> bool {
    rules::is_label_value(text) && (text.is_empty() || rules::reads_back_unquoted(text))
}

fn limit_text(value: Option<&Value>) -> String {
    value.map(rules::printed).unwrap_or_default()
}

/// The chart's schema as checked in under `schemas/` (a test keeps it equal to what the typed model
/// generates; parsing the text is cheaper than generating it in every process).
fn chart_schema(kind: ChartKind) -> &'static Value {
    static GATEWAY: OnceLock<Value> = OnceLock::new();
    static BASTION: OnceLock<Value> = OnceLock::new();
    let (cell, text) = match kind {
        ChartKind::Gateway => (
            &GATEWAY,
            include_str!("../../../schemas/gateway.values.schema.json"),
        ),
        ChartKind::Bastion => (
            &BASTION,
            include_str!("../../../schemas/bastion.values.schema.json"),
        ),
    };
    cell.get_or_init(|| serde_json::from_str(text).unwrap_or_else(|_| model::schema(kind)))
}

/// The object-shaped alternative of a schema (looking through `anyOf`/`oneOf`).
fn object_schema(schema: &Value) -> Option<&Value> {
    if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() {
        return Some(schema);
    }
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(object_schema)
}

fn array_item_schema(schema: &Value) -> Option<&Value> {
    if let Some(items) = schema.get("items") {
        return Some(items);
    }
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(array_item_schema)
}

/// Every path the schema names (maps with free keys end the walk).
fn known_paths(schema: &Value, path: &KeyPath, out: &mut Vec<KeyPath>) {
    if let Some(object) = object_schema(schema)
        && let Some(Value::Object(properties)) = object.get("properties")
    {
        for (key, sub) in properties {
            let sub_path = path.key(key);
            out.push(sub_path.clone());
            known_paths(sub, &sub_path, out);
        }
    }
}

fn unknown_keys(value: &Value, schema: &Value, path: &KeyPath, out: &mut Vec<KeyPath>) {
    match value {
        Value::Object(map) => {
            let Some(object) = object_schema(schema) else {
                return;
            };
            let properties = object.get("properties").and_then(Value::as_object);
            let additional = object.get("additionalProperties");
            for (key, sub) in map {
                let sub_path = path.key(key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(sub_schema), _) => unknown_keys(sub, sub_schema, &sub_path, out),
                    (None, Some(Value::Bool(false))) => out.push(sub_path),
                    (None, Some(extra @ Value::Object(_))) => {
                        unknown_keys(sub, extra, &sub_path, out)
                    }
                    (None, _) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = array_item_schema(schema) {
                for (i, item) in items.iter().enumerate() {
                    unknown_keys(item, item_schema, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}

/// The known key closest to an unknown one: the same last key elsewhere first (a value put at
/// the wrong depth), then a near spelling among its siblings, then a near spelling anywhere.
fn suggest(unknown: &KeyPath, known: &[KeyPath]) -> Option<KeyPath> {
    let last = unknown.last_key()?.to_lowercase();
    let full = unknown.to_string();
    let distance = |k: &KeyPath| strsim::levenshtein(&full, &k.to_string());
    let same_last = known
        .iter()
        .filter(|k| k.last_key().is_some_and(|l| l.to_lowercase() == last))
        .min_by_key(|k| distance(k));
    if let Some(found) = same_last {
        return Some(found.clone());
    }
    let parent = unknown.parent().unwrap_or_default();
    let sibling = known
        .iter()
        .filter(|k| k.parent().as_ref() == Some(&parent))
        .filter_map(|k| {
            let candidate = k.last_key()?.to_lowercase();
            let close = strsim::levenshtein(&last, &candidate) <= (last.len() / 3).max(2);
            let similarity = strsim::jaro_winkler(&last, &candidate);
            // Ranked by similarity, scaled to an integer for ordering.
            (close || similarity >= 0.88).then_some(((similarity * 1000.0) as i64, k))
        })
        .max_by_key(|(score, _)| *score);
    if let Some((_, found)) = sibling {
        return Some(found.clone());
    }
    known
        .iter()
        .filter(|k| distance(k) <= 3)
        .min_by_key(|k| distance(k))
        .cloned()
}

#[cfg(test)]
fn pointer_to_path(pointer: &str, tree: &Value) -> KeyPath {
    let mut path = KeyPath::root();
    let mut node = Some(tree);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match (node, segment.parse::<usize>()) {
            (Some(Value::Array(items)), Ok(i)) => {
                node = items.get(i);
                path = path.index(i);
            }
            (current, _) => {
                node = current.and_then(|n| n.get(&segment));
                path = path.key(&segment);
            }
        }
    }
    path
}

#[cfg(test)]
fn validator(kind: ChartKind) -> Option<&'static jsonschema::Validator> {
    static GATEWAY: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    static BASTION: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    let cell = match kind {
        ChartKind::Gateway => &GATEWAY,
        ChartKind::Bastion => &BASTION,
    };
    cell.get_or_init(|| jsonschema::draft7::new(chart_schema(kind)).ok())
        .as_ref()
}

impl Checker<'_> {
    fn unknown(&mut self) {
        let schema = chart_schema(self.chart);
        let mut unknown = Vec::new();
        unknown_keys(&self.values.tree, schema, &KeyPath::root(), &mut unknown);
        if unknown.is_empty() {
            return;
        }
        let mut known = Vec::new();
        known_paths(schema, &KeyPath::root(), &mut known);
        let other = match self.chart {
            ChartKind::Gateway => ChartKind::Bastion,
            ChartKind::Bastion => ChartKind::Gateway,
        };
        let mut other_known = Vec::new();
        known_paths(chart_schema(other), &KeyPath::root(), &mut other_known);
        for path in unknown {
            self.errors.push(ValidationError::UnknownKey {
                chart: self.chart,
                key: path.to_string(),
                origin: self.origin(&path),
                suggestion: suggest(&path, &known).map(|s| s.to_string()),
                other_chart: other_known.contains(&path).then_some(other),
            });
            self.flagged.push(path);
        }
    }

    /// Whatever the schema rejects that no rule above already reported.
    #[cfg(test)]
    fn schema_pass(&mut self) {
        let Some(validator) = validator(self.chart) else {
            return;
        };
        let tree = &self.values.tree;
        let mut found = Vec::new();
        for error in validator.iter_errors(tree) {
            let path = pointer_to_path(error.instance_path().as_str(), tree);
            let rule = match error.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { .. } => continue,
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let key = property.as_str().unwrap_or_default();
                    found.push((path.key(key), None));
                    continue;
                }
                jsonschema::error::ValidationErrorKind::Type { kind } => {
                    format!("must be of type {kind:?}").to_lowercase()
                }
                _ => "does not match the chart's values schema".to_owned(),
            };
            found.push((path, Some(rule)));
        }
        for (path, rule) in found {
            let related = self
                .flagged
                .iter()
                .any(|f| path.starts_with(f) || f.starts_with(&path));
            if related {
                continue;
            }
            match rule {
                None => self.missing(&path, "required by the chart's values schema"),
                Some(rule) => self.invalid(&path, rule),
            }
        }
    }
}

/// Whether a validation also runs the chart's JSON Schema over the values after the model's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemaPass {
    /// The model's rules decide alone (every render).
    Skip,
    /// The schema runs too, reporting what no rule reported (tests: the schema is generated from
    /// the model, so this must never add anything).
    #[cfg(test)]
    Run,
}

/// Checks a release's merged values against every rule of its chart. Reports all problems.
///
/// The model's rules decide: the charts' JSON Schemas are generated from the same model, so a
/// draft-07 validator run over the values again finds nothing they miss
/// (`schema_pass_reports_nothing_the_model_rules_miss` checks that over random value trees), and
/// compiling the schema would cost each `ikp render` process more than the render.
pub fn validate(
    kind: ChartKind,
    release_name: &str,
    values: &Values,
) -> Result<(), ValidationErrors> {
    validate_with(kind, release_name, values, SchemaPass::Skip)
}

fn validate_with(
    kind: ChartKind,
    release_name: &str,
    values: &Values,
    schema_pass: SchemaPass,
) -> Result<(), ValidationErrors> {
    let mut checker = Checker {
        chart: kind,
        values,
        errors: Vec::new(),
        flagged: Vec::new(),
        seen: Seen::default(),
    };
    if !values.tree.is_object() {
        checker.errors.push(ValidationError::InvalidValue {
            chart: kind,
            key: "(top level)".into(),
            value: show(&KeyPath::root(), &values.tree),
            origin: None,
            rule: "must be a map".into(),
        });
        return Err(ValidationErrors(checker.errors));
    }
    // Every struct of the typed model refuses keys it does not know (`deny_unknown_fields`, the
    // schema's `additionalProperties: false`), so a tree it takes has no unknown key; only a tree
    // it refuses is walked against the schema to name them (and suggest the keys meant).
    let typed = match kind {
        ChartKind::Gateway => model::GatewayValues::from_tree(&values.tree).map(|_| ()),
        ChartKind::Bastion => model::BastionValues::from_tree(&values.tree).map(|_| ()),
    };
    if typed.is_err() {
        checker.unknown();
    }
    // The model's fields in declaration order: that is the order of the messages.
    match kind {
        ChartKind::Gateway => model::GatewayValues::check_fields(&mut checker, &KeyPath::root()),
        ChartKind::Bastion => model::BastionValues::check_fields(&mut checker, &KeyPath::root()),
    }
    checker.names(release_name);
    match schema_pass {
        SchemaPass::Skip => {}
        #[cfg(test)]
        SchemaPass::Run => checker.schema_pass(),
    }
    if checker.errors.is_empty() {
        // The typed model must take whatever the checks let through; serde's message is not
        // shown because it can quote a value.
        if typed.is_err() {
            checker.errors.push(ValidationError::InvalidValue {
                chart: kind,
                key: "(values)".into(),
                value: "(not shown)".into(),
                origin: None,
                rule: "passed every check but do not fit ikp's typed model of the chart; please report this".into(),
            });
        }
    }
    if checker.errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(checker.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::values::{SetKind, ValueLayers, compose};

    const GATEWAY_DEFAULTS: &str = include_str!("../../../charts/gateway/values.yaml");
    const BASTION_DEFAULTS: &str = include_str!("../../../charts/bastion/values.yaml");
    const PUBLIC_KEY: &str = "ssh.publicKey=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKb+Ny6AabMc+bhMQqBVWV/v8ufuGZTK6pVkEbKAhDTW test";
    // base64 of a throwaway ed25519 key from the Helm reference cases (it protects nothing).
    const PRIVATE_KEY: &str = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYjNCbGJuTnphQzFyWlhrdGRqRUFBQUFBQkc1dmJtVUFBQUFFYm05dVpRQUFBQUFBQUFBQkFBQUFNd0FBQUF0emMyZ3RaVwpReU5UVXhPUUFBQUNDbS9qY3VnR216SFBtNFRFS2dWVmxmNy9MbjdobVV5dXFWWkJHeWdJUTAxZ0FBQUpqTk9RMjV6VGtOCnVRQUFBQXR6YzJndFpXUXlOVFV4T1FBQUFDQ20vamN1Z0dtekhQbTRURUtnVlZsZjcvTG43aG1VeXVxVlpCR3lnSVEwMWcKQUFBRUREc1UyYnV5NDFkbVBqakNTMTlCRndkaU53YnBOTTVEVUlFKzFzSld3SnlLYitOeTZBYWJNYytiaE1RcUJWV1Yvdgo4dWZ1R1pUSzZwVmtFYktBaERUV0FBQUFGV2hsYkcwdGNtVm1MWFJsYzNRdFpXUXlOVFV4T1E9PQotLS0tLUVORCBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K";

    fn run(
        kind: ChartKind,
        release: &str,
        sets: &[(SetKind, &str)],
        files: &[&str],
    ) -> Vec<String> {
        let mut layers = ValueLayers::new();
        for (n, file) in files.iter().enumerate() {
            layers
                .push_values_file(format!("f{n}.yaml").into(), (*file).to_owned())
                .expect("file");
        }
        for (set_kind, arg) in sets {
            layers.push_set(*set_kind, arg);
        }
        let defaults = match kind {
            ChartKind::Gateway => GATEWAY_DEFAULTS,
            ChartKind::Bastion => BASTION_DEFAULTS,
        };
        let values = compose(defaults, &layers).expect("compose");
        match validate(kind, release, &values) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn gateway(sets: &[(SetKind, &str)]) -> Vec<String> {
        let mut all = vec![(SetKind::Set, PUBLIC_KEY)];
        all.extend_from_slice(sets);
        run(ChartKind::Gateway, "msoff", &all, &[])
    }

    fn bastion(sets: &[(SetKind, &str)]) -> Vec<String> {
        let key = format!("tunnel.gateway.ssh.privateKey={PRIVATE_KEY}");
        let mut all = vec![
            (SetKind::Set, "tunnel.gateway.host=gw.example.org"),
            (SetKind::Set, key.as_str()),
            (
                SetKind::Set,
                "tunnel.service.targetHost=echo.ns.svc.cluster.local",
            ),
        ];
        all.extend_from_slice(sets);
        run(ChartKind::Bastion, "msoff", &all, &[])
    }

    /// Values of every JSON type and of the edges the rules care about (ports, node ports, empty
    /// values, numbers as text, names, quantities, keys).
    const MUTATIONS: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "-1",
        "1",
        "22",
        "80",
        "2222",
        "30181",
        "32767",
        "65535",
        "65536",
        "1.5",
        "8080.0",
        "1e3",
        "\"\"",
        "\" \"",
        "\"x\"",
        "\"80\"",
        "\"0x50\"",
        "\"080\"",
        "\"off\"",
        "\"Always\"",
        "\"NodePort\"",
        "\"ClusterIP\"",
        "\"LoadBalancer\"",
        "\"Bad_Name\"",
        "\"a.b-c\"",
        "\"100m\"",
        "\"1Gi\"",
        "\"2x\"",
        "\"gw.example.org\"",
        "\"ssh-ed25519 AAAA x\"",
        "\"a: b\"",
        "\"#x\"",
        "[]",
        "[1]",
        "[\"a\"]",
        "{}",
        "{\"a\": 1}",
        "{\"cpu\": \"1\"}",
        "{\"port\": 30181}",
    ];

    fn set_at(tree: &mut Value, path: &[String], value: Value) {
        let Some((last, parents)) = path.split_last() else {
            *tree = value;
            return;
        };
        let mut node = tree;
        for key in parents {
            if !node.get(key).is_some_and(Value::is_object) {
                if let Value::Object(map) = node {
                    map.insert(key.clone(), Value::Object(Default::default()));
                } else {
                    return;
                }
            }
            node = &mut node[key];
        }
        if let Value::Object(map) = node {
            map.insert(last.clone(), value);
        }
    }

    /// Every key path the chart's schema names, as key lists.
    fn schema_key_paths(kind: ChartKind) -> Vec<Vec<String>> {
        fn walk(schema: &Value, prefix: &[String], out: &mut Vec<Vec<String>>) {
            if let Some(Value::Object(properties)) =
                object_schema(schema).and_then(|object| object.get("properties"))
            {
                for (key, sub) in properties {
                    let mut path = prefix.to_vec();
                    path.push(key.clone());
                    out.push(path.clone());
                    walk(sub, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(chart_schema(kind), &[], &mut out);
        out
    }

    fn both_passes(kind: ChartKind, tree: Value) -> (Vec<String>, Vec<String>) {
        let (defaults, seed): (&str, Vec<String>) = match kind {
            ChartKind::Gateway => (GATEWAY_DEFAULTS, vec![PUBLIC_KEY.to_owned()]),
            ChartKind::Bastion => (
                BASTION_DEFAULTS,
                vec![
                    "tunnel.gateway.host=gw.example.org".to_owned(),
                    format!("tunnel.gateway.ssh.privateKey={PRIVATE_KEY}"),
                    "tunnel.service.targetHost=echo.ns.svc.cluster.local".to_owned(),
                ],
            ),
        };
        let mut layers = ValueLayers::new();
        for arg in &seed {
            layers.push_set(SetKind::Set, arg);
        }
        layers.push_tree("mutations", tree);
        let Ok(values) = compose(defaults, &layers) else {
            return (Vec::new(), Vec::new());
        };
        let messages = |pass| match validate_with(kind, "msoff", &values, pass) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        };
        (messages(SchemaPass::Skip), messages(SchemaPass::Run))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1500))]
        /// The charts' schemas are generated from the typed model, so the model's rules must report
        /// everything a draft-07 validator of the schema rejects: renders skip the schema.
        #[test]
        fn schema_pass_reports_nothing_the_model_rules_miss(
            bastion in proptest::bool::ANY,
            edits in proptest::collection::vec(
                (proptest::num::usize::ANY, proptest::sample::select(MUTATIONS), 0..3usize),
                1..4,
            ),
        ) {
            let kind = if bastion { ChartKind::Bastion } else { ChartKind::Gateway };
            let paths = schema_key_paths(kind);
            let mut tree = Value::Object(Default::default());
            for (pick, text, extra_depth) in edits {
                let mut path = paths[pick % paths.len()].clone();
                // Sometimes a key below a leaf, or an unknown sibling.
                if extra_depth == 1 {
                    path.push("extra".to_owned());
                }
                let value: Value = serde_json::from_str(text).unwrap();
                set_at(&mut tree, &path, value);
            }
            let (model_only, with_schema) = both_passes(kind, tree.clone());
            proptest::prop_assert_eq!(model_only, with_schema, "values {}", tree);
        }
    }

    #[test]
    fn service_type_is_checked_while_the_sshd_service_is_off() {
        // Once reported only as "do not fit ikp's typed model; please report this".
        assert_eq!(
            gateway(&[(SetKind::Set, "service.port=0,service.type=ClusterIP")]),
            [
                "gateway value service.type = \"ClusterIP\" (from --set #2): must be NodePort or LoadBalancer"
            ]
        );
        assert!(gateway(&[(SetKind::Set, "service.port=0,service.type=null")]).is_empty());
    }

    #[test]
    fn global_must_be_a_map() {
        // Once reported only as "do not fit ikp's typed model; please report this".
        assert_eq!(
            gateway(&[(SetKind::Set, "global=true")]),
            ["gateway value global = true (from --set #2): must be a map (or null)"]
        );
    }

    #[test]
    fn good_values_pass() {
        assert_eq!(gateway(&[]), Vec::<String>::new());
        assert_eq!(bastion(&[]), Vec::<String>::new());
    }

    #[test]
    fn decimal_strings_are_ports_but_not_octal_or_exponent() {
        assert!(gateway(&[(SetKind::String, "service.port=30222,ssh.port=2222")]).is_empty());
        let from_file = run(
            ChartKind::Gateway,
            "msoff",
            &[(SetKind::Set, PUBLIC_KEY)],
            &["ssh:\n  port: \"2200\"\n"],
        );
        assert!(from_file.is_empty(), "{from_file:?}");
        let errors = gateway(&[(SetKind::String, "ssh.port=1e3")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("gateway value ssh.port = \"1e3\" (from --set-string #1)"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = gateway(&[(
            SetKind::Set,
            "ssh.port=0,service.port=8080,image.pullPolicy=Sometimes,ssh.userName=yes",
        )]);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        let joined = ValidationErrors(vec![
            ValidationError::ReleaseName {
                release: "A".into(),
                rule: "r1".into(),
            },
            ValidationError::ReleaseName {
                release: "B".into(),
                rule: "r2".into(),
            },
        ])
        .to_string();
        assert_eq!(
            joined,
            "release name \"A\": r1\nerror: release name \"B\": r2"
        );
    }

    #[test]
    fn node_port_service_switch() {
        for off in [
            "service.port=",
            "service.port=null",
            "service.port=0",
            "service.port=false",
            "service=null",
        ] {
            assert!(gateway(&[(SetKind::Set, off)]).is_empty(), "{off}");
        }
        // The string "0" is true in a template: it would render a node port of 0.
        assert_eq!(gateway(&[(SetKind::String, "service.port=0")]).len(), 1);
        assert!(gateway(&[(SetKind::Set, "service.port=null,service.type=ClusterIP")]).len() == 1);
    }

    #[test]
    fn tunnel_service_rules() {
        assert!(
            gateway(&[(
                SetKind::Set,
                "tunnel.service.sourcePort=8181,tunnel.service.sourceNodePort=30181"
            )])
            .is_empty()
        );
        assert!(gateway(&[(SetKind::Set, "tunnel=null")]).is_empty());
        assert!(gateway(&[(SetKind::Set, "tunnel.service=null")]).is_empty());
        assert!(gateway(&[(SetKind::Json, "tunnel={\"service\":{}}")]).is_empty());
        let errors = gateway(&[(SetKind::Set, "tunnel.service.sourceNodePort=30181")]);
        assert!(errors[0].contains("sourcePort is missing"), "{errors:?}");
        let errors = gateway(&[(
            SetKind::Set,
            "tunnel.service.sourcePort=8181,tunnel.service.sourceNodePort=30222",
        )]);
        assert!(
            errors[0].contains("already the sshd NodePort"),
            "{errors:?}"
        );
    }

    #[test]
    fn resources_rules() {
        assert!(gateway(&[(SetKind::Set, r"resources.limits.nvidia\.com/gpu=1")]).is_empty());
        assert!(gateway(&[(SetKind::Set, "resources.claims[0].name=gpu")]).is_empty());
        let errors = gateway(&[(SetKind::Set, "resources.requests.cpu=500m")]);
        assert!(errors[0].contains("above the limit"), "{errors:?}");
        let errors = gateway(&[(
            SetKind::Set,
            "resources.limits.gpu=1,resources.limits.memory=lots",
        )]);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn image_tags() {
        assert!(gateway(&[(SetKind::Set, "image.tag=2")]).is_empty());
        assert!(gateway(&[(SetKind::Set, "image.tag=3.20")]).is_empty());
        let big = run(
            ChartKind::Gateway,
            "msoff",
            &[(SetKind::Set, PUBLIC_KEY)],
            &["image:\n  tag: 1000000\n"],
        );
        assert!(big[0].contains("printed as 1e+06"), "{big:?}");
        let from_file = |text: &str| {
            run(
                ChartKind::Gateway,
                "msoff",
                &[(SetKind::Set, PUBLIC_KEY)],
                &[text],
            )
        };
        assert!(from_file("image:\n  tag: 2\n").is_empty());
        assert!(from_file("image:\n  tag: 1.0\n")[0].contains("written as 1.0"));
    }

    #[test]
    fn release_names_per_chart() {
        let long = "a".repeat(53);
        let sets = [
            (SetKind::Set, "tunnel.gateway.host=gw"),
            (SetKind::Set, "tunnel.service.targetHost=svc"),
        ];
        let key = format!("tunnel.gateway.ssh.privateKey={PRIVATE_KEY}");
        let mut all = sets.to_vec();
        all.push((SetKind::Set, key.as_str()));
        // No Service in the bastion: a dotted or 53-character release is fine there.
        assert!(run(ChartKind::Bastion, "my.rel.v1", &all, &[]).is_empty());
        assert!(run(ChartKind::Bastion, &long, &all, &[]).is_empty());
        let errors = run(
            ChartKind::Gateway,
            "my.rel.v1",
            &[
                (SetKind::Set, PUBLIC_KEY),
                (SetKind::Set, "service.port=null"),
            ],
            &[],
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        let errors = gateway(&[(SetKind::Set, "fullnameOverride=custom-name")]);
        assert!(errors.is_empty(), "{errors:?}");
        let errors = run(
            ChartKind::Gateway,
            "123",
            &[(SetKind::Set, PUBLIC_KEY)],
            &[],
        );
        assert!(
            errors.iter().any(|e| e.contains("instance label")),
            "{errors:?}"
        );
        let errors = run(
            ChartKind::Gateway,
            &"a".repeat(54),
            &[(SetKind::Set, PUBLIC_KEY)],
            &[],
        );
        assert!(errors[0].contains("at most 53"), "{errors:?}");
    }
    /// Every map the schema closes (`additionalProperties: false`), by the path of a value in it.
    fn closed_maps(schema: &Value, path: &KeyPath, out: &mut Vec<KeyPath>) {
        if let Some(object) = object_schema(schema) {
            if object.get("additionalProperties") == Some(&Value::Bool(false)) {
                out.push(path.clone());
            }
            if let Some(Value::Object(properties)) = object.get("properties") {
                for (key, sub) in properties {
                    closed_maps(sub, &path.key(key), out);
                }
            }
        }
        if let Some(items) = array_item_schema(schema) {
            closed_maps(items, &path.index(0), out);
        }
    }

    /// Unknown keys are looked for only when the typed model refuses the values: that is sound
    /// only if the model refuses every key the schema does. An unknown key in each map the
    /// schema closes must be reported as unknown.
    #[test]
    fn an_unknown_key_in_any_closed_map_is_reported() {
        for kind in [ChartKind::Gateway, ChartKind::Bastion] {
            let mut closed = Vec::new();
            closed_maps(chart_schema(kind), &KeyPath::root(), &mut closed);
            assert!(closed.len() >= 5, "{kind:?}: {closed:?}");
            for map in closed {
                let key = map.key("notAKey").to_string();
                let set = format!("{key}=1");
                let errors = match kind {
                    ChartKind::Gateway => gateway(&[(SetKind::Set, &set)]),
                    ChartKind::Bastion => bastion(&[(SetKind::Set, &set)]),
                };
                assert!(
                    errors
                        .iter()
                        .any(|e| e.contains(&format!("value {key} ")) && e.contains("unknown key")),
                    "{kind:?} {key}: {errors:?}"
                );
            }
        }
    }
}
