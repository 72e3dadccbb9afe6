//! The `--set` family's parser: any argument, in each of the five modes, parsed alone and into
//! the gateway chart's defaults. It may fail, never panic, and what it makes stays within the
//! limits. Input: one mode byte, then the argument.
#![no_main]

use ikp::compat::strvals::{ValueMode, parse, parse_into};
use ikp::release::values::limits::{self, MAX_DEPTH, MAX_NODES, NodeBudget, ReadError};
use ikp::release::values::parse_defaults;
use libfuzzer_sys::fuzz_target;

/// The mode a case's first byte picks.
fn make_mode(mode: u8, read: &mut dyn FnMut(&str) -> Result<String, ReadError>) -> ValueMode<'_> {
    match mode % 5 {
        0 => ValueMode::Typed,
        1 => ValueMode::String,
        2 => ValueMode::Json,
        3 => ValueMode::Literal,
        _ => ValueMode::File(read),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let arg = String::from_utf8_lossy(rest);
    let mut read = |name: &str| -> Result<String, ReadError> {
        // A stand-in for the file system: the name is the content.
        Ok(name.repeat(2))
    };
    if let Ok(tree) = parse(&arg, make_mode(mode, &mut read)) {
        assert!(tree.is_object());
        assert!(limits::count_nodes(&tree, usize::MAX) <= MAX_NODES + 1);
        assert!(limits::depth(&tree, usize::MAX) <= MAX_DEPTH + 1);
    }
    let defaults = include_str!("../../charts/gateway/values.yaml");
    let Ok(mut data) = parse_defaults(defaults) else {
        panic!("the chart's defaults do not parse");
    };
    let mut paths = 0usize;
    let result = parse_into(
        &arg,
        &mut data,
        make_mode(mode, &mut read),
        &mut NodeBudget::default(),
        &mut |_, _| paths += 1,
    );
    if let Err(err) = result {
        let text = err.to_string();
        assert!(!text.contains('\n'), "multi-line error {text:?}");
    }
});
