//! The options parser and validation: any text as the add-on's `options.json` and as
//! `lifeboat.toml`, then validated as the binary does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::config::{Env, parse_options, validate};
use std::path::{Path, PathBuf};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Env::from_pairs([("SUPERVISOR_TOKEN", "t")]);
    for name in ["options.json", "lifeboat.toml"] {
        if let Ok(opts) = parse_options(Path::new(name), text) {
            let _ = validate(opts, &env, PathBuf::from("/data"));
        }
    }
});
