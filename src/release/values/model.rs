//! The typed values of the two charts. These structs are the single source of the charts'
//! JSON Schemas (`schemas/*.values.schema.json`, `ikp schema`), which draft-07 validators —
//! Helm's `values.schema.json` included — accept. Field types accept what Helm accepts where
//! the rendered output stays valid (a port as `2222`, `2222.0` or `"2222"`). Each struct also
//! says, field by field, what the field is for and which finer rule ([`super::rules`]) its
//! text follows ([`super::fields`]); [`super::validate`] checks values by walking this model,
//! so a key, its type, its range and whether it is required are written here only.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::ChartKind;
use super::fields::{Checked, Spec, custom, model_struct, text, unquoted_text, what};
use super::path::KeyPath;
use super::rules;
use super::validate;
use super::validate::Checker;
use crate::k8s::syntax;

/// The keys of the typed model's secret fields (the bastion's `ssh.privateKey`,
/// [`BastionSsh::private_key`]): the one list every redaction reads (`--debug`, errors naming a value,
/// `ikp get values`).
pub const SECRET_FIELDS: [&str; 1] = ["privateKey"];

/// Whether the value under `key` is secret wherever it appears in a value tree: a secret field of the
/// typed model, or (for chart directories outside the model) a key named like a credential.
pub fn is_secret_key(key: &str) -> bool {
    if SECRET_FIELDS.contains(&key) {
        return true;
    }
    let lower = key.to_ascii_lowercase();
    lower.contains("privatekey")
        || lower.contains("password")
        || lower.contains("token")
        || lower.contains("secret")
}

/// The schemas of the empty values (null, false, 0, "", [] and {}) that a key read through
/// `default` or tested with `if` takes as "not set" ([`rules::is_empty_value`]).
fn empty_value_schemas() -> [Value; 3] {
    [
        serde_json::json!({"enum": [null, false, 0, ""]}),
        serde_json::json!({"type": "array", "maxItems": 0}),
        serde_json::json!({"type": "object", "maxProperties": 0}),
    ]
}

/// A section that a template tests with `if` (the gateway's `service`, `tunnel`,
/// `tunnel.service`): the section's map, or `None` for any empty value
/// ([`rules::is_empty_value`]), which leaves the section out.
#[derive(Clone, Debug, PartialEq)]
pub struct Section<T>(pub Option<T>);

impl<T> Default for Section<T> {
    fn default() -> Self {
        Section(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if rules::is_empty_value(&value) {
            return Ok(Section(None));
        }
        T::deserialize(value)
            .map(|section| Section(Some(section)))
            .map_err(serde::de::Error::custom)
    }
}

impl<T: Serialize> Serialize for Section<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for Section<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Section_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let section = generator.subschema_for::<T>().to_value();
        let [empty_scalar, empty_list, empty_map] = empty_value_schemas();
        json_schema!({
            "anyOf": [section, empty_scalar, empty_list, empty_map]
        })
    }
}

/// `nameOverride` / `fullnameOverride`: text, or `None` for any empty value
/// ([`rules::is_empty_value`]), which keeps the chart's naming.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Option<String>")]
pub struct NameOverride(pub Option<String>);

impl NameOverride {
    /// The values keys of the two naming overrides ([`GatewayValues::fullname_override`],
    /// [`GatewayValues::name_override`], the same in both charts), in the order the charts'
    /// `fullname` helper reads them.
    pub(crate) const KEYS: [&'static str; 2] = ["fullnameOverride", "nameOverride"];

    /// Those of [`Self::KEYS`] that `values` sets to a name (an empty value keeps the chart's naming).
    pub(crate) fn keys_set_in(values: &Value) -> Vec<&'static str> {
        Self::KEYS
            .into_iter()
            .filter(|key| {
                values
                    .get(key)
                    .is_some_and(|value| matches!(rules::name_override(value), Ok(Some(_))))
            })
            .collect()
    }
}

impl TryFrom<Value> for NameOverride {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        rules::name_override(&value).map(NameOverride)
    }
}

impl From<NameOverride> for Option<String> {
    fn from(name: NameOverride) -> Option<String> {
        name.0
    }
}

impl JsonSchema for NameOverride {
    fn schema_name() -> Cow<'static, str> {
        "NameOverride".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let [empty_scalar, empty_list, empty_map] = empty_value_schemas();
        json_schema!({
            "description": "Text; empty (null, false, 0, \"\", [] or {}) keeps the chart's naming.",
            "anyOf": [{"type": "string"}, empty_scalar, empty_list, empty_map]
        })
    }
}

/// A TCP port, 1–65535 (a number, or the same number as decimal text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "u16")]
pub struct Port(pub u16);

impl Port {
    /// The numbers a port may take.
    pub const RANGE: RangeInclusive<u16> = syntax::PORTS;
    /// What the error message calls it (`must be a port number 1–65535`).
    const WHAT: &str = "a port number";

    /// Reads a port from a value, or says in one line why it is not one.
    pub fn parse(value: &Value) -> Result<u16, String> {
        rules::integer_in_range(value, *Self::RANGE.start(), *Self::RANGE.end(), Self::WHAT)
    }
}

impl TryFrom<Value> for Port {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        Port::parse(&value).map(Port)
    }
}

impl From<Port> for u16 {
    fn from(port: Port) -> u16 {
        port.0
    }
}

impl Checked for Port {
    fn check(checker: &mut Checker<'_>, path: &KeyPath, required: bool, spec: &Spec) {
        checker.parsed(path, required, spec, Port::parse);
    }
}

impl JsonSchema for Port {
    fn schema_name() -> Cow<'static, str> {
        "Port".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let (min, max) = (*Self::RANGE.start(), *Self::RANGE.end());
        json_schema!({
            "description": format!("A TCP port, {min}-{max}: an integer, or the same integer as decimal text without a leading zero."),
            "anyOf": [
                {"type": "integer", "minimum": min, "maximum": max},
                {"type": "string", "pattern": format!("^{}$", decimal_pattern(&Self::RANGE))}
            ]
        })
    }
}

/// A node port, 30000–32767 (a number, or the same number as decimal text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "u16")]
pub struct NodePort(pub u16);

impl NodePort {
    /// The numbers a node port may take: the API server's default range.
    pub const RANGE: RangeInclusive<u16> = syntax::NODE_PORTS;
    /// What the error message calls it (`must be a node port in the range 30000–32767`).
    const WHAT: &str = "a node port in the range";

    /// Reads a node port from a value, or says in one line why it is not one.
    pub fn parse(value: &Value) -> Result<u16, String> {
        rules::integer_in_range(value, *Self::RANGE.start(), *Self::RANGE.end(), Self::WHAT)
    }
}

impl TryFrom<Value> for NodePort {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        NodePort::parse(&value).map(NodePort)
    }
}

impl From<NodePort> for u16 {
    fn from(port: NodePort) -> u16 {
        port.0
    }
}

impl Checked for NodePort {
    fn check(checker: &mut Checker<'_>, path: &KeyPath, required: bool, spec: &Spec) {
        checker.parsed(path, required, spec, NodePort::parse);
    }
}

impl JsonSchema for NodePort {
    fn schema_name() -> Cow<'static, str> {
        "NodePort".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let (min, max) = (*Self::RANGE.start(), *Self::RANGE.end());
        json_schema!({
            "description": format!("A node port in Kubernetes' default range {min}-{max}: an integer, or the same integer as decimal text."),
            "anyOf": [
                {"type": "integer", "minimum": min, "maximum": max},
                {"type": "string", "pattern": format!("^{}$", decimal_pattern(&Self::RANGE))}
            ]
        })
    }
}

/// A regular expression for the decimal text of the numbers in `range` (no sign, no leading
/// zero), as tight as a prefix and a digit count make it: `3[0-9]{4}` for 30000–32767,
/// `[1-9][0-9]{0,4}` for 1–65535. The exact bounds are the integer alternative's job.
fn decimal_pattern(range: &RangeInclusive<u16>) -> String {
    let (low, high) = (range.start().to_string(), range.end().to_string());
    if low.len() == high.len() {
        let common = low
            .bytes()
            .zip(high.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        return format!("{}[0-9]{{{}}}", &low[..common], low.len() - common);
    }
    format!("[1-9][0-9]{{{},{}}}", low.len() - 1, high.len() - 1)
}

/// The gateway's `service.port`: a node port, or off (absent or any empty value,
/// [`rules::is_empty_value`]), which means no NodePort Service for sshd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Option<u16>")]
pub struct NodePortOrOff(pub Option<NodePort>);

impl TryFrom<Value> for NodePortOrOff {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        if rules::is_empty_value(&value) {
            return Ok(NodePortOrOff(None));
        }
        NodePort::try_from(value).map(|p| NodePortOrOff(Some(p)))
    }
}

impl From<NodePortOrOff> for Option<u16> {
    fn from(port: NodePortOrOff) -> Option<u16> {
        port.0.map(|p| p.0)
    }
}

impl JsonSchema for NodePortOrOff {
    fn schema_name() -> Cow<'static, str> {
        "NodePortOrOff".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let range = NodePort::RANGE;
        let (min, max) = (*range.start(), *range.end());
        let [empty_scalar, empty_list, empty_map] = empty_value_schemas();
        json_schema!({
            "description": format!("Node port of the sshd NodePort Service ({min}-{max}); empty (null, false, 0, \"\", [] or {{}}) for no such Service."),
            "anyOf": [
                {"type": "integer", "minimum": min, "maximum": max},
                {"type": "string", "pattern": format!("^{}$", decimal_pattern(&range))},
                empty_scalar,
                empty_list,
                empty_map
            ]
        })
    }
}

/// `image.tag`: a tag, or empty (absent or any empty value, [`rules::is_empty_value`]) for the
/// chart's appVersion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Option<String>")]
pub struct ImageTag(pub Option<String>);

impl TryFrom<Value> for ImageTag {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        rules::image_tag(&value, None).map(ImageTag)
    }
}

impl From<ImageTag> for Option<String> {
    fn from(tag: ImageTag) -> Option<String> {
        tag.0
    }
}

impl JsonSchema for ImageTag {
    fn schema_name() -> Cow<'static, str> {
        "ImageTag".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let [empty_scalar, empty_list, empty_map] = empty_value_schemas();
        json_schema!({
            "description": "Image tag; empty (null, false, 0, \"\", [] or {}) uses the chart's appVersion.",
            "anyOf": [
                {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"},
                {"type": "integer", "minimum": 0},
                empty_scalar,
                empty_list,
                empty_map
            ]
        })
    }
}

/// A resource quantity (`100m`, `1Gi`, `0.5`, `1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Quantity(pub Value);

impl TryFrom<Value> for Quantity {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        quantity_value(&value).map(|_| Quantity(value))
    }
}

/// The numeric value of a quantity given as text or a number.
pub fn quantity_value(value: &Value) -> Result<f64, String> {
    let amount = match value {
        Value::String(s) => rules::quantity(s),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match amount {
        Some(a) if a >= 0.0 => Ok(a),
        Some(_) => Err("must not be negative".into()),
        None => Err("must be a resource quantity such as 100m, 0.5, 64Mi or 1Gi".into()),
    }
}

impl From<Quantity> for Value {
    fn from(q: Quantity) -> Value {
        q.0
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A Kubernetes resource quantity.",
            "anyOf": [
                {"type": "string", "pattern": "^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][-+]?[0-9]+))?$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

model_struct! {
    /// The image of the chart's one container.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Image {
        /// Image repository, without tag.
        #[schemars(length(min = 1))]
        pub repository: String => text("the image repository", rules::image_repository),
        /// Image tag; empty uses the chart's appVersion.
        #[serde(default)]
        pub tag: Option<ImageTag> => what("the image tag"),
        /// When the kubelet pulls the image.
        pub pull_policy: PullPolicy => what("the image pull policy"),
    }
}

/// Kubernetes' image pull policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every start.
    Always,
    /// Pull if absent.
    IfNotPresent,
    /// Never pull.
    Never,
}

model_struct! {
    /// Container resources (a Kubernetes ResourceRequirements).
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Resources {
        /// Upper limits, by resource name.
        #[serde(default)]
        pub limits: Option<BTreeMap<String, Quantity>> => custom(validate::resource_limits),
        /// Requested amounts, by resource name.
        #[serde(default)]
        pub requests: Option<BTreeMap<String, Quantity>> => custom(validate::resource_requests),
        /// Dynamic resource claims used by the container.
        #[serde(default)]
        pub claims: Option<Vec<ResourceClaim>> => custom(validate::resource_claims),
    }
}

/// One entry of `resources.claims`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceClaim {
    /// Name of a pod resource claim.
    #[schemars(length(min = 1))]
    pub name: String,
    /// A request within that claim.
    #[serde(default)]
    pub request: Option<String>,
}

model_struct! {
    /// The gateway's sshd settings.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct GatewaySsh {
        /// Port of the headless Service in front of sshd.
        pub port: Port => what("the Service port in front of sshd"),
        /// The bastions' OpenSSH public key line (ssh-rsa, ssh-ed25519 or ecdsa-sha2-*).
        #[schemars(length(min = 1))]
        pub public_key: String => unquoted_text(
            "the bastions' OpenSSH public key line, e.g. --set-file ssh.publicKey=id_rsa.pub",
            validate::public_key_line,
        ),
        /// The login user that bastions connect as.
        #[schemars(length(min = 1, max = rules::MAX_LOGIN_NAME))]
        pub user_name: String => unquoted_text("the login user", rules::login_name),
    }
}

/// Kubernetes Service types that have node ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// A NodePort Service.
    NodePort,
    /// A LoadBalancer Service (which also gets node ports).
    LoadBalancer,
}

model_struct! {
    /// The gateway's sshd NodePort Service.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct GatewayService {
        /// Node port for sshd; empty for no such Service.
        #[serde(default)]
        pub port: Option<NodePortOrOff> => custom(validate::sshd_node_port),
        /// Service type; its lowercase form ends the Service's name.
        #[serde(default, rename = "type")]
        pub service_type: Option<ServiceType> => custom(validate::sshd_service_type),
    }
}

model_struct! {
    /// The gateway's optional NodePort Service for the tunnel's source port.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct GatewayTunnelService {
        /// Gateway port that the bastion's reverse tunnel opens.
        pub source_port: Port => what(
            "the gateway port the tunnel opens (set sourcePort and sourceNodePort together)",
        ),
        /// Node port exposing `sourcePort`; the Service is named `<fullname>-<sourceNodePort>`.
        pub source_node_port: NodePort => custom(validate::tunnel_node_port),
    }
}

model_struct! {
    /// The gateway's tunnel settings.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct GatewayTunnel {
        /// The tunnel NodePort Service; empty for none.
        #[serde(default)]
        pub service: Section<GatewayTunnelService> => what("the tunnel's NodePort Service"),
    }
}

// The fields are checked in declaration order, which is the order of the error messages.
model_struct! {
    /// Values of the gateway chart (sshd in the local cluster).
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[schemars(title = "gateway chart values")]
    pub struct GatewayValues {
        /// Replaces the chart name in object names and labels.
        #[serde(default)]
        pub name_override: NameOverride => custom(validate::name_override),
        /// Replaces the whole object name.
        #[serde(default)]
        pub fullname_override: NameOverride => custom(validate::fullname_override),
        /// The sshd image.
        pub image: Image => what("the container image (repository, tag, pullPolicy)"),
        /// sshd container resources.
        #[serde(default)]
        pub resources: Option<Resources> => what("the container's resources"),
        /// sshd settings.
        pub ssh: GatewaySsh => what("sshd settings (port, publicKey, userName)"),
        /// The sshd NodePort Service; empty for none.
        #[serde(default)]
        pub service: Section<GatewayService> => what("the sshd NodePort Service"),
        /// The tunnel's NodePort Service; empty for none.
        #[serde(default)]
        pub tunnel: Section<GatewayTunnel> => what("the tunnel settings"),
        /// Helm's values shared with subcharts.
        #[serde(default)]
        pub global: Option<BTreeMap<String, Value>> => what("values shared with subcharts"),
    }
}

model_struct! {
    /// The bastion's ssh login to the gateway.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BastionSsh {
        /// The gateway's public SSH port (its NodePort).
        pub port: Port => what("the gateway's public SSH port"),
        /// base64 (one line) of the unencrypted private key file.
        #[schemars(length(min = 1), regex(pattern = r"^[A-Za-z0-9+/]+={0,2}$"))]
        pub private_key: String => text(
            "base64 of the private key file, e.g. --set tunnel.gateway.ssh.privateKey=$(base64 -w0 id_rsa)",
            validate::private_key_base64,
        ),
        /// The gateway's login user.
        #[schemars(length(min = 1, max = rules::MAX_LOGIN_NAME))]
        pub user_name: String => unquoted_text("the login user", rules::login_name),
    }
}

model_struct! {
    /// Where the bastion connects.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BastionGateway {
        /// Public host name or IP address of the gateway.
        #[schemars(length(min = 1, max = syntax::MAX_SUBDOMAIN))]
        pub host: String => text(
            "the gateway's public host name or IP address",
            validate::gateway_host,
        ),
        /// The ssh login.
        pub ssh: BastionSsh => what("the ssh login (port, privateKey, userName)"),
    }
}

model_struct! {
    /// What the reverse tunnel forwards.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BastionService {
        /// Port opened on the gateway's side of the tunnel.
        pub gateway_port: Port => what("the port opened on the gateway side"),
        /// Host of the service in the remote cluster.
        #[schemars(length(min = 1, max = syntax::MAX_SUBDOMAIN))]
        pub target_host: String => unquoted_text(
            "the service's host in the remote cluster",
            validate::target_host,
        ),
        /// Port of that service.
        pub target_port: Port => what("the service's port"),
    }
}

model_struct! {
    /// The bastion's tunnel.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BastionTunnel {
        /// The gateway end.
        pub gateway: BastionGateway => what("the gateway end (host, ssh)"),
        /// The forwarded service.
        pub service: BastionService => what(
            "the forwarded service (gatewayPort, targetHost, targetPort)",
        ),
    }
}

// The fields are checked in declaration order, which is the order of the error messages.
model_struct! {
    /// Values of the bastion chart (the ssh client in the remote cluster).
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[schemars(title = "bastion chart values")]
    pub struct BastionValues {
        /// Replaces the chart name in object names and labels.
        #[serde(default)]
        pub name_override: NameOverride => custom(validate::name_override),
        /// Replaces the whole object name.
        #[serde(default)]
        pub fullname_override: NameOverride => custom(validate::fullname_override),
        /// The ssh client image.
        pub image: Image => what("the container image (repository, tag, pullPolicy)"),
        /// ssh client container resources.
        #[serde(default)]
        pub resources: Option<Resources> => what("the container's resources"),
        /// The tunnel.
        pub tunnel: BastionTunnel => what("the tunnel (gateway and service)"),
        /// Helm's values shared with subcharts.
        #[serde(default)]
        pub global: Option<BTreeMap<String, Value>> => what("values shared with subcharts"),
    }
}

impl GatewayValues {
    /// Reads validated values into the typed model.
    pub fn from_tree(tree: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(tree)
    }
}

impl BastionValues {
    /// Reads validated values into the typed model.
    pub fn from_tree(tree: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(tree)
    }
}

/// The top-level sections of `values` that differ from `defaults`, as a values layer over the
/// defaults: a section is replaced whole, so every key in it is given, as the model spells it.
pub fn changed_sections<T: Serialize>(
    defaults: &T,
    values: &T,
) -> Result<Value, serde_json::Error> {
    let before = serde_json::to_value(defaults)?;
    let Value::Object(after) = serde_json::to_value(values)? else {
        return Ok(Value::Object(serde_json::Map::new()));
    };
    Ok(Value::Object(
        after
            .into_iter()
            .filter(|(key, section)| before.get(key) != Some(section))
            .collect(),
    ))
}

/// Whether `value` names a variant of the model's enum `T` (as serde reads it).
pub fn is_variant<T: serde::de::DeserializeOwned>(value: &Value) -> bool {
    value.is_string() && T::deserialize(value).is_ok()
}

/// The variants of the model's enum `T` for a message: `Always, IfNotPresent or Never`.
pub fn variant_list<T: JsonSchema>() -> String {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let names: Vec<&str> = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|variant| variant.get("const").and_then(Value::as_str))
        .chain(
            schema
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        )
        .collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The JSON Schema (draft-07) of a chart's values.
pub fn schema(kind: ChartKind) -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let generator = settings.into_generator();
    let schema = match kind {
        ChartKind::Gateway => generator.into_root_schema_for::<GatewayValues>(),
        ChartKind::Bastion => generator.into_root_schema_for::<BastionValues>(),
    };
    schema.to_value()
}

/// The schema as committed in `schemas/<chart>.values.schema.json` (pretty JSON, final newline).
pub fn schema_text(kind: ChartKind) -> String {
    let mut text = serde_json::to_string_pretty(&schema(kind)).unwrap_or_default();
    text.push('\n');
    text
}

/// A key of a chart's values as `--set` names it, with the model's description of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueKey {
    /// The dotted path (`tunnel.service.sourceNodePort`); a dot inside a key is escaped (`a\.b`), as
    /// `--set` reads it.
    pub path: String,
    /// The first line of the key's description, if the model has one.
    pub description: Option<String>,
}

/// Every key of a chart's values that holds a value of its own (not a section of further keys), in
/// the schema's order: what `--set` can set. Read from [`schema`], so it follows the typed model.
pub fn value_keys(kind: ChartKind) -> Vec<ValueKey> {
    fn walk(schema: &Value, prefix: &str, out: &mut Vec<ValueKey>) {
        let properties = schema.get("properties").or_else(|| {
            ["anyOf", "oneOf"]
                .iter()
                .filter_map(|keyword| schema.get(*keyword).and_then(Value::as_array))
                .flatten()
                .find_map(|branch| branch.get("properties"))
        });
        match properties.and_then(Value::as_object) {
            Some(properties) => {
                for (name, sub) in properties {
                    let name = name.replace('.', "\\.");
                    let path = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(sub, &path, out);
                }
            }
            None if !prefix.is_empty() => out.push(ValueKey {
                path: prefix.to_owned(),
                description: schema
                    .get("description")
                    .and_then(Value::as_str)
                    .and_then(|text| text.lines().next())
                    .map(str::to_owned),
            }),
            None => {}
        }
    }
    let mut keys = Vec::new();
    walk(&schema(kind), "", &mut keys);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_override_keys_are_the_models_naming_fields() {
        for fields in [
            super::super::fields::serde_fields::<GatewayValues>(),
            super::super::fields::serde_fields::<BastionValues>(),
        ] {
            for key in NameOverride::KEYS {
                assert!(fields.contains(&key), "{key} in {fields:?}");
            }
        }
        let values = serde_json::json!({"nameOverride": "n", "fullnameOverride": 0});
        assert_eq!(NameOverride::keys_set_in(&values), ["nameOverride"]);
    }

    #[test]
    fn the_secret_field_list_names_the_models_private_key_field() {
        let ssh = BastionSsh {
            port: serde_json::from_value(serde_json::json!(2222)).unwrap(),
            private_key: "a2V5".into(),
            user_name: "u".into(),
        };
        let value = serde_json::to_value(&ssh).unwrap();
        let secret: Vec<&String> = value
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.as_str() == Some("a2V5"))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(secret.len(), 1);
        assert!(SECRET_FIELDS.contains(&secret[0].as_str()));
        assert!(is_secret_key(secret[0]));
        assert!(!is_secret_key("userName"));
    }
    use serde_json::json;

    #[test]
    fn ports() {
        assert_eq!(Port::parse(&json!(2222)), Ok(2222));
        assert_eq!(Port::parse(&json!(2222.0)), Ok(2222));
        assert_eq!(Port::parse(&json!("30222")), Ok(30222));
        assert_eq!(Port::parse(&json!(83.0)), Ok(83));
        assert!(Port::parse(&json!("0123")).is_err_and(|e| e.contains("octal")));
        assert!(Port::parse(&json!("1e3")).is_err());
        assert!(Port::parse(&json!(99999)).is_err_and(|e| e == "must be a port number 1–65535"));
        assert!(Port::parse(&json!(30222.5)).is_err_and(|e| e.contains("30222.5")));
        assert!(Port::parse(&json!(true)).is_err());
        assert!(Port::parse(&json!(0)).is_err());
        assert!(Port::parse(&json!(-1)).is_err());
        assert!(NodePort::parse(&json!(30181)).is_ok());
        assert!(NodePort::parse(&json!(8080)).is_err());
    }

    #[test]
    fn enums_are_listed_and_read_as_serde_does() {
        assert_eq!(
            variant_list::<PullPolicy>(),
            "Always, IfNotPresent or Never"
        );
        assert_eq!(variant_list::<ServiceType>(), "NodePort or LoadBalancer");
        assert!(is_variant::<PullPolicy>(&json!("Never")));
        assert!(!is_variant::<PullPolicy>(&json!("never")));
        assert!(!is_variant::<PullPolicy>(&json!(1)));
    }

    #[test]
    fn value_keys_are_the_leaves_of_the_model() {
        let keys = value_keys(ChartKind::Gateway);
        let paths: Vec<&str> = keys.iter().map(|key| key.path.as_str()).collect();
        for expected in [
            "tunnel.service.sourceNodePort",
            "tunnel.service.sourcePort",
            "ssh.publicKey",
            "image.pullPolicy",
            "resources.limits",
        ] {
            assert!(paths.contains(&expected), "{expected} not in {paths:?}");
        }
        // Sections are not keys of their own; the other chart's keys are not offered.
        assert!(!paths.contains(&"tunnel.service") && !paths.contains(&"tunnel"));
        assert!(!paths.contains(&"tunnel.gateway.host"));
        let bastion = value_keys(ChartKind::Bastion);
        assert!(bastion.iter().any(|key| key.path == "tunnel.gateway.host"));
        let described = keys
            .iter()
            .find(|key| key.path == "ssh.publicKey")
            .and_then(|key| key.description.as_deref());
        assert!(
            described.is_some_and(|text| !text.is_empty()),
            "{described:?}"
        );
    }

    #[test]
    fn decimal_patterns_follow_the_range() {
        assert_eq!(decimal_pattern(&Port::RANGE), "[1-9][0-9]{0,4}");
        assert_eq!(decimal_pattern(&NodePort::RANGE), "3[0-9]{4}");
        assert_eq!(decimal_pattern(&(1..=3600)), "[1-9][0-9]{0,3}");
        assert_eq!(decimal_pattern(&(100..=199)), "1[0-9]{2}");
    }
}
