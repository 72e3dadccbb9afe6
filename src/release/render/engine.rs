//! The template engine: a chart's templates compiled once into a minijinja environment with the Helm
//! functions, executed in Helm's order against one release's values.
//!
//! Helpers are macros in the chart's partials (`templates/_*.tpl`), called by name with `include`, as
//! Helm's named templates are. A helper given `root` prints the same text every time during one render
//! (templates cannot change the values they read, and helpers have no side effects), so its first
//! output is kept for the others: the labels and the object name are printed by every template, and
//! executing their macros again was half of a render. For the same reason, the first time a partial's
//! helper is included with `root`, every helper of that partial is run with `root` in the one
//! evaluation of the partial, in the order they are written (a helper mostly includes ones written
//! before it, which are then known); one that fails is not kept, and fails again, with its own error,
//! only if a template includes it.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Environment, Error, ErrorKind, State};

use super::RenderError;
use super::functions;
use crate::release::chart::{Chart, ChartFile};

/// Release facts the templates can read as `Release.*` (Helm's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// `Release.Name`.
    pub name: String,
    /// `Release.Namespace`.
    pub namespace: String,
    /// `Release.Service`: the tool that manages the release; the charts print it as the
    /// `app.kubernetes.io/managed-by` label.
    pub service: String,
}

impl ReleaseInfo {
    /// A release managed by ikp.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        ReleaseInfo {
            name: name.into(),
            namespace: namespace.into(),
            service: "ikp".to_owned(),
        }
    }
}

/// The text each template rendered to, before splitting into documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFiles {
    /// Manifest templates by path inside the chart (`templates/service.yaml`), `<no value>` removed.
    pub manifests: BTreeMap<String, String>,
    /// What `templates/NOTES.txt` rendered to, if the chart has one.
    pub notes: Option<String>,
}

const NOTES_PATH: &str = "templates/NOTES.txt";

/// A chart's templates, compiled and ready to render any number of releases.
pub struct ChartEngine {
    env: Environment<'static>,
    chart: Value,
    /// Templates that produce output, in Helm's execution order (deepest path first, then reverse
    /// byte order), which decides whose error is reported when several fail.
    execution_order: Vec<String>,
}

impl std::fmt::Debug for ChartEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartEngine")
            .field("execution_order", &self.execution_order)
            .finish_non_exhaustive()
    }
}

impl ChartEngine {
    /// Compiles every template of `chart`; a syntax error names the template and line.
    pub fn new(chart: &Chart) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_debug(false);
        // Helm keeps a template's final newline; trimming happens later, per document.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        functions::install(&mut env);
        for file in &chart.templates {
            env.add_template_owned(file.path.clone(), file.source.clone())
                .map_err(|source| RenderError::Template {
                    template: format!("{}/{}", chart.metadata.name, file.path),
                    message: describe_template_error(&source),
                })?;
        }
        let helpers = Arc::new(named_helpers(&env, chart));
        env.add_function(
            "include",
            move |state: &State<'_, '_>, name: &str, data: Value| {
                include(state, &helpers, name, data)
            },
        );
        let mut execution_order: Vec<String> = chart
            .templates
            .iter()
            .map(|file| file.path.clone())
            .filter(|path| !is_partial(path))
            .collect();
        execution_order.sort_by(|a, b| {
            let depth = |p: &str| p.matches('/').count();
            depth(b).cmp(&depth(a)).then_with(|| b.cmp(a))
        });
        let chart_value = Value::from_pairs([
            ("Name", Value::from(chart.metadata.name.clone())),
            ("Version", Value::from(chart.metadata.version.clone())),
            (
                "AppVersion",
                Value::from(chart.metadata.app_version.clone().unwrap_or_default()),
            ),
            (
                "Description",
                Value::from(chart.metadata.description.clone().unwrap_or_default()),
            ),
        ]);
        Ok(ChartEngine {
            env,
            chart: chart_value,
            execution_order,
        })
    }

    /// Renders every template for one release. `values` is the merged value tree.
    pub fn render(
        &self,
        chart_name: &str,
        release: &ReleaseInfo,
        values: &serde_json::Value,
    ) -> Result<RenderedFiles, RenderError> {
        let values = template_value(values);
        let release_value = Value::from_pairs([
            ("Name", Value::from(release.name.clone())),
            ("Namespace", Value::from(release.namespace.clone())),
            ("Service", Value::from(release.service.clone())),
            ("IsInstall", Value::from(true)),
            ("IsUpgrade", Value::from(false)),
            ("Revision", Value::from(1_i64)),
        ]);
        let root = Value::from_object(RenderRoot {
            values: values.clone(),
            chart: self.chart.clone(),
            release: release_value.clone(),
            included: Mutex::default(),
        });
        let context = Value::from_pairs([
            ("Values", values),
            ("Chart", self.chart.clone()),
            ("Release", release_value),
            ("root", root),
        ]);
        let mut manifests = BTreeMap::new();
        let mut notes = None;
        for path in &self.execution_order {
            let template = self
                .env
                .get_template(path)
                .map_err(|source| RenderError::Template {
                    template: format!("{chart_name}/{path}"),
                    message: describe_template_error(&source),
                })?;
            let text = template
                .render(&context)
                .map_err(|source| RenderError::Template {
                    template: format!("{chart_name}/{path}"),
                    message: describe_template_error(&source),
                })?;
            // Go templates print a missing value as "<no value>" and Helm deletes every such text.
            let text = if text.contains("<no value>") {
                text.replace("<no value>", "")
            } else {
                text
            };
            if path == NOTES_PATH {
                notes = Some(text);
            } else {
                manifests.insert(path.clone(), text);
            }
        }
        Ok(RenderedFiles { manifests, notes })
    }
}

/// What the templates of one render read as `root`: `Values`, `Chart` and `Release` (a map of the three),
/// and the text of every helper included with it so far.
#[derive(Debug)]
struct RenderRoot {
    values: Value,
    chart: Value,
    release: Value,
    /// Helper name → what it printed, given this root.
    included: Mutex<HashMap<String, Value>>,
}

impl Object for RenderRoot {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "Values" => Some(self.values.clone()),
            "Chart" => Some(self.chart.clone()),
            "Release" => Some(self.release.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["Values", "Chart", "Release"])
    }
}

/// The helper macros of a chart's partials.
#[derive(Debug, Default)]
struct Helpers {
    /// Helper name → the partial that defines it (a name defined twice is the later file's, in path
    /// order).
    partial_of: BTreeMap<String, String>,
    /// Partial → the names it defines, in the order they are written.
    in_partial: BTreeMap<String, Vec<String>>,
}

/// The macros each partial defines. A partial is evaluated once here, with no values, to list them;
/// one that fails to evaluate that way defines none (its error shows when a template imports it).
fn named_helpers(env: &Environment<'_>, chart: &Chart) -> Helpers {
    let mut partials: Vec<&ChartFile> = chart
        .templates
        .iter()
        .filter(|file| is_partial(&file.path))
        .collect();
    partials.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut helpers = Helpers::default();
    for file in partials {
        let Ok(template) = env.get_template(&file.path) else {
            continue;
        };
        let Ok(captured) = template.render_captured(()) else {
            continue;
        };
        let mut names: Vec<&str> = captured.state().exports();
        // Where each is defined; a name not found as written (spacing) goes last. Each position is
        // looked up once (a search of the whole partial), not at every comparison.
        names.sort_by_cached_key(|name| {
            file.source
                .find(&format!("macro {name}("))
                .unwrap_or(usize::MAX)
        });
        for name in &names {
            helpers
                .partial_of
                .insert((*name).to_owned(), file.path.clone());
        }
        helpers.in_partial.insert(
            file.path.clone(),
            names.into_iter().map(str::to_owned).collect(),
        );
    }
    helpers
}

/// How deep `include` calls may nest: a helper that includes itself would otherwise recurse until
/// the stack runs out (each include executes in a state of its own, which minijinja's own
/// recursion limit does not see across).
const MAX_INCLUDE_DEPTH: usize = 64;

thread_local! {
    static INCLUDE_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Whether the helpers of a partial are being run for the memo (a miss inside them then runs only
    /// the helper asked for, instead of starting another such run).
    static FILLING_MEMO: Cell<bool> = const { Cell::new(false) };
}

/// `include(name, data)`: the text of the helper macro `name` given `data` (Helm's `include`). Given
/// the render's `root`, the first call runs every helper of the partial (see the module's doc) and
/// later ones reuse their text.
fn include(
    state: &State<'_, '_>,
    helpers: &Helpers,
    name: &str,
    data: Value,
) -> Result<Value, Error> {
    let root = data.downcast_object_ref::<RenderRoot>();
    if let Some(root) = root
        && let Some(text) = lock(&root.included).get(name)
    {
        return Ok(text.clone());
    }
    let Some(path) = helpers.partial_of.get(name) else {
        return Err(Error::new(
            ErrorKind::UnknownFunction,
            format!("include: no helper named {name:?} in the chart's partials (templates/_*.tpl)"),
        ));
    };
    let depth = INCLUDE_DEPTH.with(|depth| depth.get());
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "include {name:?}: helpers nest more than {MAX_INCLUDE_DEPTH} deep (one includes itself?)"
            ),
        ));
    }
    INCLUDE_DEPTH.with(|d| d.set(depth + 1));
    let fill = root.is_some() && !FILLING_MEMO.with(Cell::get);
    let text = state.env().get_template(path).and_then(|template| {
        template
            .render_captured(())?
            .with_state_mut(|module| match root {
                Some(root) if fill => {
                    FILLING_MEMO.with(|f| f.set(true));
                    let text = fill_memo(module, root, &helpers.in_partial[path], name, &data);
                    FILLING_MEMO.with(|f| f.set(false));
                    text
                }
                _ => module
                    .call_macro(name, std::slice::from_ref(&data))
                    .map(Value::from),
            })
    });
    INCLUDE_DEPTH.with(|d| d.set(depth));
    let text = text?;
    // The batch keeps its texts itself; a single run given root is kept here.
    if let Some(root) = root
        && !fill
    {
        lock(&root.included).insert(name.to_owned(), text.clone());
    }
    Ok(text)
}

/// Runs every helper of one partial (`names`, in order) with the render's `root` in `module`, the
/// partial's evaluation, keeping each text that succeeds; returns what `wanted` gave. The memo's lock
/// is not held while a helper runs (it may include others).
fn fill_memo(
    module: &mut State<'_, '_>,
    root: &RenderRoot,
    names: &[String],
    wanted: &str,
    data: &Value,
) -> Result<Value, Error> {
    let mut wanted_result = None;
    for name in names {
        if name != wanted && lock(&root.included).contains_key(name) {
            continue;
        }
        let result = module
            .call_macro(name, std::slice::from_ref(data))
            .map(Value::from);
        // Kept at once: a helper run after this one may include it.
        if let Ok(text) = &result {
            lock(&root.included)
                .entry(name.clone())
                .or_insert_with(|| text.clone());
        }
        if name == wanted {
            wanted_result = Some(result);
        }
    }
    wanted_result.unwrap_or_else(|| {
        let text = Value::from(module.call_macro(wanted, std::slice::from_ref(data))?);
        lock(&root.included).insert(wanted.to_owned(), text.clone());
        Ok(text)
    })
}

/// Locks `mutex` poisoned or not: what it guards (a render's helper texts) is written in one insert,
/// so a panic elsewhere cannot leave it half-written.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Files whose name starts with `_` hold helpers and never produce output.
pub(super) fn is_partial(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with('_'))
}

/// One line for a minijinja error: what went wrong and where (template and line).
fn describe_template_error(error: &minijinja::Error) -> String {
    let mut message = match error.detail() {
        Some(detail) => detail.to_owned(),
        None => error.kind().to_string(),
    };
    if let Some(name) = error.name() {
        message.push_str(&format!(" (at {name}"));
        if let Some(line) = error.line() {
            message.push_str(&format!(" line {line}"));
        }
        message.push(')');
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(inner) = inner.downcast_ref::<minijinja::Error>() {
            let inner_message = describe_template_error(inner);
            if !message.contains(&inner_message) {
                message.push_str(": ");
                message.push_str(&inner_message);
            }
            break;
        }
        source = inner.source();
    }
    message
}

/// The values tree as template values: null becomes undefined, so that reading a field of it fails
/// as Helm's "nil pointer evaluating" does, while printing it gives nothing; float64 and int64
/// stay distinct so they print as Go prints them.
fn template_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::UNDEFINED,
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(int) = n.as_i64() {
                Value::from(int)
            } else if let Some(uint) = n.as_u64() {
                Value::from(uint)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(template_value).collect::<Vec<_>>())
        }
        // Keys from `&str`: a short one is stored inline, without a copy on the heap.
        serde_json::Value::Object(map) => Value::from_pairs(
            map.iter()
                .map(|(key, item)| (Value::from(key.as_str()), template_value(item))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::chart::{ChartFile, ChartMetadata, ChartOrigin};

    fn chart(files: &[(&str, &str)]) -> Chart {
        Chart {
            metadata: ChartMetadata {
                name: "demo".to_owned(),
                version: "0.1.0".to_owned(),
                app_version: None,
                description: None,
            },
            values_yaml: String::new(),
            templates: files
                .iter()
                .map(|(path, source)| ChartFile {
                    path: (*path).to_owned(),
                    source: (*source).to_owned(),
                })
                .collect(),
            origin: ChartOrigin::Embedded,
        }
    }

    fn render(files: &[(&str, &str)]) -> Result<RenderedFiles, RenderError> {
        let engine = ChartEngine::new(&chart(files))?;
        engine.render(
            "demo",
            &ReleaseInfo::new("rel", "default"),
            &serde_json::json!({"greeting": "hi"}),
        )
    }

    #[test]
    fn include_finds_a_helper_in_any_partial_and_passes_it_the_data() {
        let rendered = render(&[
            ("templates/_names.tpl", "{%- macro name(root) -%}{{ root.Release.Name }}-{{ root.Chart.Name }}{%- endmacro -%}"),
            ("templates/_words.tpl", "{%- macro shout(text) -%}{{ text | upper }}{%- endmacro -%}"),
            (
                "templates/a.yaml",
                "a: {{ include(\"name\", root) }} {{ include(\"name\", root) }} {{ include(\"shout\", Values.greeting) }} {{ include(\"shout\", \"x\") }}",
            ),
        ])
        .expect("renders");
        assert_eq!(
            rendered.manifests["templates/a.yaml"],
            "a: rel-demo rel-demo HI X"
        );
    }

    #[test]
    fn a_helper_given_root_runs_once_per_render() {
        let files = [
            (
                "templates/_h.tpl",
                "{%- macro name(root) -%}{{ tick() }}{{ root.Release.Name }}{%- endmacro -%}",
            ),
            ("templates/a.yaml", "a: {{ include(\"name\", root) }}"),
            ("templates/b.yaml", "b: {{ include(\"name\", root) }}"),
            (
                "templates/c.yaml",
                "c: {{ include(\"name\", {\"Release\": {\"Name\": \"x\"}}) }}",
            ),
        ];
        let mut engine = ChartEngine::new(&chart(&files)).expect("compiles");
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        engine.env.add_function("tick", move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            String::new()
        });
        let release = ReleaseInfo::new("rel", "default");
        let rendered = engine
            .render("demo", &release, &serde_json::json!({}))
            .expect("renders");
        assert_eq!(rendered.manifests["templates/a.yaml"], "a: rel");
        assert_eq!(rendered.manifests["templates/b.yaml"], "b: rel");
        assert_eq!(rendered.manifests["templates/c.yaml"], "c: x");
        // Once for `root` (a and b), once for the other data (c); a new render starts afresh.
        assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 2);
        engine
            .render("demo", &release, &serde_json::json!({}))
            .expect("renders");
        assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 4);
    }

    #[test]
    fn the_first_include_with_root_runs_the_partials_helpers_in_one_evaluation() {
        let files = [
            (
                "templates/_h.tpl",
                concat!(
                    "{%- if tick is defined %}{{ tick(\"module\") }}{% endif -%}\n",
                    "{%- macro name(root) -%}{{ tick(\"name\") }}{{ root.Release.Name }}{%- endmacro -%}\n",
                    "{%- macro labels(root) -%}{{ tick(\"labels\") }}app: {{ include(\"name\", root) }}{%- endmacro -%}\n",
                    "{%- macro broken(root) -%}{{ required(\"broken needs a value\", root.Values.missing) }}{%- endmacro -%}\n",
                ),
            ),
            ("templates/a.yaml", "a: {{ include(\"labels\", root) }}"),
            ("templates/b.yaml", "b: {{ include(\"name\", root) }}"),
        ];
        let mut engine = ChartEngine::new(&chart(&files)).expect("compiles");
        let ticks = Arc::new(Mutex::new(Vec::<String>::new()));
        let record = Arc::clone(&ticks);
        engine.env.add_function("tick", move |what: String| {
            lock(&record).push(what);
            String::new()
        });
        let release = ReleaseInfo::new("rel", "default");
        let rendered = engine
            .render("demo", &release, &serde_json::json!({}))
            .expect("a helper that fails is not an error until it is included");
        assert_eq!(rendered.manifests["templates/a.yaml"], "a: app: rel");
        assert_eq!(rendered.manifests["templates/b.yaml"], "b: rel");
        // b.yaml runs first (Helm's order); its miss runs all three helpers in one evaluation, in
        // the order they are written, and labels then finds name's text.
        assert_eq!(*lock(&ticks), ["module", "name", "labels"]);

        let files = [
            files[0],
            ("templates/c.yaml", "c: {{ include(\"broken\", root) }}"),
        ];
        let err = render(&files).unwrap_err().to_string();
        assert!(err.contains("broken needs a value"), "{err}");
    }

    #[test]
    fn an_imported_partial_still_works_with_root_as_an_object() {
        let rendered = render(&[
            (
                "templates/_h.tpl",
                "{%- macro name(root) -%}{{ root.Release.Name }}/{{ root.Values.greeting }}{%- endmacro -%}",
            ),
            (
                "templates/a.yaml",
                "{%- import \"templates/_h.tpl\" as h -%}\na: {{ h.name(root) }} {{ root | length }}",
            ),
        ])
        .expect("renders");
        assert_eq!(rendered.manifests["templates/a.yaml"], "a: rel/hi 3");
    }

    #[test]
    fn include_of_an_unknown_helper_names_it() {
        let err = render(&[("templates/a.yaml", "a: {{ include(\"nope\", root) }}")]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("no helper named \"nope\""), "{message}");
        assert!(message.contains("templates/a.yaml"), "{message}");
    }

    #[test]
    fn a_helper_that_includes_itself_is_an_error_not_a_stack_overflow() {
        let err = render(&[
            (
                "templates/_h.tpl",
                "{%- macro loop(x) -%}{{ include(\"loop\", x ~ \".\") }}{%- endmacro -%}",
            ),
            ("templates/a.yaml", "a: {{ include(\"loop\", \"\") }}"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("nest more than 64 deep"), "{err}");
    }
}
