//! The default instance id: the host name, so that each host (or Kubernetes StatefulSet pod) gets
//! its own transactional ids and a restart on the same host reuses them.

/// Used when neither `HOSTNAME` nor the kernel's host name is available.
const FALLBACK_INSTANCE_ID: &str = "default";

const KERNEL_HOSTNAME_PATH: &str = "/proc/sys/kernel/hostname";

/// The instance id derived from the host name: env `HOSTNAME`, else `/proc/sys/kernel/hostname`,
/// else `"default"`, reduced to characters that are safe in a transactional id.
pub fn default_instance_id() -> String {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_kernel = || std::fs::read_to_string(KERNEL_HOSTNAME_PATH).ok();
    let host = from_env
        .filter(|name| !name.trim().is_empty())
        .or_else(from_kernel)
        .unwrap_or_default();
    let sanitized = sanitize_instance_id(&host);
    if sanitized.is_empty() {
        tracing::warn!(
            "no host name found; using instance id {FALLBACK_INSTANCE_ID:?} \
             (set instance.id when running several instances)"
        );
        return FALLBACK_INSTANCE_ID.to_owned();
    }
    sanitized
}

/// Keeps ASCII letters, digits, `.`, `_` and `-`, and replaces anything else with `-`, so a host
/// name cannot smuggle separators or control characters into transactional ids.
pub fn sanitize_instance_id(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_keeps_safe_characters_and_replaces_the_rest() {
        assert_eq!(sanitize_instance_id(" web-01.eu_west \n"), "web-01.eu_west");
        assert_eq!(sanitize_instance_id("a b/c:d"), "a-b-c-d");
        assert_eq!(sanitize_instance_id("  "), "");
    }

    #[test]
    fn default_instance_id_is_never_empty_and_always_sanitized() {
        let id = default_instance_id();
        assert!(!id.is_empty());
        assert_eq!(sanitize_instance_id(&id), id);
    }
}
