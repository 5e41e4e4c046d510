//! Commands from automations: any line on stdin (`hassio.app_stdin`), and any JSON value as an
//! event's data.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = lifeboat::commands::parse_line(line);
    if let Ok(value) = serde_json::from_str(line) {
        let _ = lifeboat::commands::parse(value);
    }
});
