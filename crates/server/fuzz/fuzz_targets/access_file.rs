//! Feeds arbitrary text to the `--api-keys` access file parser: it must accept the file or
//! refuse it naming a line, never panic; an accepted file answers lookups of any key or name.

#![no_main]

use kafkatx_server::http::auth::AccessList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AccessList::parse(text, "fuzz.keys") {
        Ok(list) => {
            // Lookups with pieces of the input as the presented key and certificate name.
            let _ = list.by_key(data);
            for word in text.split_whitespace().take(8) {
                let _ = list.by_key(word.as_bytes());
                let _ = list.by_certificate(word);
            }
            let _ = (list.len(), list.is_empty(), list.names_certificates());
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
