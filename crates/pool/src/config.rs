//! Pool configuration, with Kafka-style property names for the server's configuration files.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::error::ConfigError;
use crate::instance::default_instance_id;

/// How the pool is sized, named and timed.
///
/// Transactional ids are `{transactional_id_prefix}-{instance_id}-{slot}`. Run every instance of a
/// service with a distinct `instance_id` (the default, the host name, does that when each instance
/// has its own host name): two instances with the same instance id fence each other's producers.
/// Keep the instance id stable across restarts so that a restarted process fences its own zombies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of producers (`pool.size`).
    pub size: usize,
    /// First part of every transactional id (`transactional.id.prefix`).
    pub transactional_id_prefix: String,
    /// Identifies this process among the instances of the service (`instance.id`).
    pub instance_id: String,
    /// How long `lease()` waits for a free producer (`lease.timeout.ms`).
    pub lease_timeout: Duration,
    /// How many callers may wait at once; beyond that `lease()` fails fast (`max.waiters`).
    pub max_waiters: usize,
    /// How long `close()` waits for leased producers to come back (`close.timeout.ms`).
    pub close_timeout: Duration,
    /// How long `Pool::new` waits for the first initialisation attempt of every slot
    /// (`startup.timeout.ms`).
    pub startup_timeout: Duration,
    /// Delay between failed initialisation attempts of a slot (`init.backoff.ms`,
    /// `init.backoff.max.ms`).
    pub init_backoff: Backoff,
    /// A producer that fails fatally sooner than this after it became ready counts as a repeated
    /// failure of its slot (`fatal.window.ms`).
    pub fatal_window: Duration,
    /// Delay before re-initialising a slot that keeps failing fatally, e.g. because another process
    /// fences it (`fatal.backoff.ms`, `fatal.backoff.max.ms`).
    pub fatal_backoff: Backoff,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            size: 8,
            transactional_id_prefix: "kafkatx".to_owned(),
            instance_id: default_instance_id(),
            lease_timeout: Duration::from_secs(5),
            max_waiters: 1024,
            close_timeout: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(30),
            init_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            fatal_window: Duration::from_secs(60),
            fatal_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
        }
    }
}

impl PoolConfig {
    /// The transactional id of `slot`.
    pub fn transactional_id(&self, slot: usize) -> String {
        format!(
            "{}-{}-{}",
            self.transactional_id_prefix, self.instance_id, slot
        )
    }

    /// Sets one property by its Kafka-style name (see the field docs); durations are milliseconds.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "pool.size" => self.size = parse_number(key, value)?,
            "transactional.id.prefix" => self.transactional_id_prefix = value.to_owned(),
            "instance.id" => self.instance_id = value.to_owned(),
            "lease.timeout.ms" => self.lease_timeout = parse_millis(key, value)?,
            "max.waiters" => self.max_waiters = parse_number(key, value)?,
            "close.timeout.ms" => self.close_timeout = parse_millis(key, value)?,
            "startup.timeout.ms" => self.startup_timeout = parse_millis(key, value)?,
            "init.backoff.ms" => self.init_backoff.initial = parse_millis(key, value)?,
            "init.backoff.max.ms" => self.init_backoff.max = parse_millis(key, value)?,
            "fatal.window.ms" => self.fatal_window = parse_millis(key, value)?,
            "fatal.backoff.ms" => self.fatal_backoff.initial = parse_millis(key, value)?,
            "fatal.backoff.max.ms" => self.fatal_backoff.max = parse_millis(key, value)?,
            _ => return Err(ConfigError::UnknownProperty(key.to_owned())),
        }
        Ok(())
    }

    /// Checks the values that would make the pool unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.size == 0 {
            return Err(ConfigError::EmptyPool);
        }
        check_id_part("transactional.id.prefix", &self.transactional_id_prefix)?;
        check_id_part("instance.id", &self.instance_id)?;
        for (name, backoff) in [
            ("init.backoff", &self.init_backoff),
            ("fatal.backoff", &self.fatal_backoff),
        ] {
            if backoff.initial.is_zero() || backoff.initial > backoff.max {
                return Err(ConfigError::InvalidBackoff(name));
            }
        }
        Ok(())
    }
}

/// Transactional ids end up in broker logs and ACLs, so their parts must be visible characters.
fn check_id_part(name: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::InvalidIdPart {
            name,
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn parse_number(key: &str, value: &str) -> Result<usize, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

fn parse_millis(key: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_ids_are_prefix_instance_slot() {
        let config = PoolConfig {
            transactional_id_prefix: "orders".to_owned(),
            instance_id: "web-1".to_owned(),
            ..PoolConfig::default()
        };
        assert_eq!(config.transactional_id(0), "orders-web-1-0");
        assert_eq!(config.transactional_id(7), "orders-web-1-7");
    }

    #[test]
    fn properties_set_fields_and_reject_bad_input() {
        let mut config = PoolConfig::default();
        config.set("pool.size", "3").unwrap();
        config.set("lease.timeout.ms", "250").unwrap();
        config.set("max.waiters", "10").unwrap();
        config.set("instance.id", "node-a").unwrap();
        assert_eq!(config.size, 3);
        assert_eq!(config.lease_timeout, Duration::from_millis(250));
        assert_eq!(config.max_waiters, 10);
        assert_eq!(config.transactional_id(2), "kafkatx-node-a-2");

        assert!(matches!(
            config.set("lease.timeout.ms", "soon"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("pool.sise", "3"),
            Err(ConfigError::UnknownProperty(_))
        ));
    }

    #[test]
    fn validation_rejects_unusable_values() {
        assert!(PoolConfig::default().validate().is_ok());
        let empty = PoolConfig {
            size: 0,
            ..PoolConfig::default()
        };
        assert!(matches!(empty.validate(), Err(ConfigError::EmptyPool)));
        let spaced = PoolConfig {
            instance_id: "a b".to_owned(),
            ..PoolConfig::default()
        };
        assert!(matches!(
            spaced.validate(),
            Err(ConfigError::InvalidIdPart { .. })
        ));
        let inverted = PoolConfig {
            init_backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(1)),
            ..PoolConfig::default()
        };
        assert!(matches!(
            inverted.validate(),
            Err(ConfigError::InvalidBackoff("init.backoff"))
        ));
    }
}
