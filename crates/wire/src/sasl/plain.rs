//! SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`.

use crate::sasl::credentials::SaslCredentials;

/// The single PLAIN message. The authorization identity stays empty: the broker then
/// authorizes as the user itself, which is what Kafka's own client sends.
pub(crate) fn initial_response(credentials: &SaslCredentials) -> Vec<u8> {
    let username = credentials.username().as_bytes();
    let password = credentials.password().as_bytes();
    let mut message = Vec::with_capacity(2 + username.len() + password.len());
    message.push(0);
    message.extend_from_slice(username);
    message.push(0);
    message.extend_from_slice(password);
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::credentials::SaslMechanism;

    #[test]
    fn the_message_is_empty_authzid_user_and_password_separated_by_nul() {
        let creds = SaslCredentials::new(SaslMechanism::Plain, "alice", "pä55").unwrap();
        assert_eq!(initial_response(&creds), b"\0alice\0p\xc3\xa455".to_vec());
    }
}
