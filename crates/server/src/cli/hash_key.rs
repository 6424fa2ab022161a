//! `kafkatx hash-key`: an API key on stdin becomes a line of the `--api-keys` file.
//!
//! The key comes on stdin, never as an argument, so it stays out of the shell history and of
//! `ps`; only its SHA-256 digest is printed.

use std::io::{BufRead, Read, Write};

use clap::Args;

use super::CliError;
use crate::http::auth::{AccessList, KeyHash};

/// Shorter keys could be found from their digest by trying candidates; 16 random characters
/// are beyond that.
pub const MIN_KEY_LEN: usize = 16;
/// Longest key read; a header line this long is already unusual.
pub const MAX_KEY_LEN: usize = 4096;

/// Flags of `kafkatx hash-key`.
#[derive(Debug, Clone, Args)]
pub struct HashKeyArgs {
    /// The caller's name in the line (and in the gateway's logs). Without it only the digest is
    /// printed.
    #[arg(long)]
    pub name: Option<String>,
    /// Topics the key may write: names, prefixes ending in `*`, comma separated; repeatable.
    #[arg(long = "topics", value_name = "LIST", requires = "name")]
    pub topics: Vec<String>,
    /// The key may read `/metrics` when the gateway runs with `--metrics-require-key`.
    #[arg(long, requires = "name")]
    pub metrics: bool,
}

/// Reads the key from stdin and prints its line.
pub async fn run(args: HashKeyArgs) -> Result<(), CliError> {
    // One line: typed at a terminal, Enter ends it; piped, the first line is the key.
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .take(u64::try_from(MAX_KEY_LEN + 2).unwrap_or(u64::MAX))
        .read_until(b'\n', &mut input)
        .map_err(|e| CliError::Usage(format!("cannot read the key from stdin: {e}")))?;
    let line = hash_line(&input, &args).map_err(CliError::Usage)?;
    // The input buffer held the key: clear it before it is freed.
    input.iter_mut().for_each(|b| *b = 0);
    writeln!(std::io::stdout(), "{line}").map_err(|e| CliError::Output(e.to_string()))
}

/// The line for `input` (the key, one trailing newline allowed), checked by the file's parser.
pub fn hash_line(input: &[u8], args: &HashKeyArgs) -> Result<String, String> {
    let key = input
        .strip_suffix(b"\r\n")
        .or_else(|| input.strip_suffix(b"\n"))
        .unwrap_or(input);
    // What can travel in `Authorization: Bearer <key>` unchanged (RFC 9110 field values, no
    // spaces, which HTTP would trim or split on).
    if !key.iter().all(|b| matches!(b, 0x21..=0x7e)) {
        return Err("the key must be printable ASCII without spaces (one line on stdin)".into());
    }
    if key.len() < MIN_KEY_LEN || key.len() > MAX_KEY_LEN {
        return Err(format!(
            "the key has {} characters; use {MIN_KEY_LEN} to {MAX_KEY_LEN} random ones, e.g. \
             `head -c 32 /dev/urandom | base64`",
            key.len()
        ));
    }
    let digest = KeyHash::of(key).to_string();
    let Some(name) = &args.name else {
        return Ok(digest);
    };
    let mut line = format!("{digest}  {name}");
    if !args.topics.is_empty() {
        line.push_str("  topics=");
        line.push_str(&args.topics.join(","));
    }
    if args.metrics {
        line.push_str("  metrics");
    }
    // The gateway must accept what we print.
    AccessList::parse(&line, "the printed line").map_err(|e| e.to_string())?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: Option<&str>, topics: &[&str], metrics: bool) -> HashKeyArgs {
        HashKeyArgs {
            name: name.map(str::to_owned),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            metrics,
        }
    }

    #[test]
    fn the_line_is_what_the_file_parser_reads() {
        let key = b"0123456789abcdef-key\n";
        let line = hash_line(key, &args(Some("app"), &["orders", "pay-*"], true)).unwrap();
        let list = AccessList::parse(&line, "t").unwrap();
        let caller = list.by_key(b"0123456789abcdef-key").unwrap();
        assert_eq!(caller.name, "app");
        assert!(caller.rights.may_write("pay-eu") && caller.rights.metrics);
        let bare = hash_line(b"0123456789abcdef-key\r\n", &args(None, &[], false)).unwrap();
        assert_eq!(bare, KeyHash::of(b"0123456789abcdef-key").to_string());
    }

    #[test]
    fn short_spaced_or_unusable_input_is_refused() {
        for bad in [
            &b"short\n"[..],
            b"",
            b"0123456789 abcdef",
            b"0123456789abcdef\n\n",
            b"0123456789abcdef\xc3\xa9",
        ] {
            assert!(hash_line(bad, &args(None, &[], false)).is_err(), "{bad:?}");
        }
        let error = hash_line(b"0123456789abcdef", &args(Some("a b"), &[], false)).unwrap_err();
        assert!(error.contains("name"), "{error}");
        let error = hash_line(b"0123456789abcdef", &args(Some("a"), &["x/y"], false)).unwrap_err();
        assert!(error.contains("x/y"), "{error}");
    }
}
