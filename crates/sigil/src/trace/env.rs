//! The tracing settings the environment carries, parsed in one place so that
//! [`Privacy::from_env`] and the standard collector set-up (`sigil_store`) cannot
//! disagree about what a variable means.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SIGIL_TRACE_INPUTS` | record module inputs, queries, tool arguments | on |
//! | `SIGIL_TRACE_OUTPUTS` | record outputs, parsed fields, LM output text | on |
//! | `SIGIL_TRACE_MESSAGES` | record LM input messages and raw completions | on |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | export over OTLP (either one set switches export on; see [`otlp`](super::otlp) for the other `OTEL_*` variables) | no export |
//!
//! A switch is off for `0`, `false`, `off` or `no` (any case, surrounding spaces
//! ignored) and on for `1`, `true`, `on`, `yes` or an empty value. Any other value
//! keeps the switch on, as it always has, and is listed in
//! [`TraceEnv::unrecognised`] so that a set-up can say so: a typo in a privacy switch
//! should not pass silently.

use super::otlp::{OtlpConfig, OtlpError};
use super::privacy::Privacy;

/// The privacy switches, in the order they are read.
const SWITCHES: [&str; 3] = [
    "SIGIL_TRACE_INPUTS",
    "SIGIL_TRACE_OUTPUTS",
    "SIGIL_TRACE_MESSAGES",
];

/// Either of these being set (non-blank) switches OTLP export on.
const OTLP_ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// A privacy switch with a value that is neither on nor off.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{var}=`{value}` is not a switch (use 0/false/off/no or 1/true/on/yes); it stays on, so this is recorded"
)]
pub struct TraceFlagError {
    /// The variable's name.
    pub var: String,
    /// The value found.
    pub value: String,
}

/// Every tracing setting read from the environment.
///
/// ```
/// use sigil::trace::TraceEnv;
/// let env = TraceEnv::from_lookup(|k| match k {
///     "SIGIL_TRACE_MESSAGES" => Some("off".into()),
///     _ => None,
/// });
/// assert!(env.privacy.record_inputs && !env.privacy.record_messages);
/// assert!(env.otlp.is_none()); // no endpoint: no export
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEnv {
    /// What spans may record (the three `SIGIL_TRACE_*` switches; secrets are
    /// always redacted).
    pub privacy: Privacy,
    /// `None` when no OTLP endpoint variable is set; otherwise the exporter's
    /// configuration, or why the `OTEL_*` variables cannot be used.
    pub otlp: Option<Result<OtlpConfig, OtlpError>>,
    /// Switches whose value was not recognised (they were left on).
    pub unrecognised: Vec<TraceFlagError>,
}

impl TraceEnv {
    /// The settings in the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The settings read through `var` (a variable's value, `None` when unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut unrecognised = Vec::new();
        let mut on = [true; 3];
        for (slot, name) in on.iter_mut().zip(SWITCHES) {
            let Some(value) = var(name) else { continue };
            match value.trim().to_ascii_lowercase().as_str() {
                "0" | "false" | "off" | "no" => *slot = false,
                "" | "1" | "true" | "on" | "yes" => {}
                _ => unrecognised.push(TraceFlagError {
                    var: name.to_string(),
                    value,
                }),
            }
        }
        let privacy = Privacy::default()
            .inputs(on[0])
            .outputs(on[1])
            .messages(on[2]);
        let wants_otlp = OTLP_ENDPOINTS
            .iter()
            .any(|k| var(k).is_some_and(|v| !v.trim().is_empty()));
        let otlp = wants_otlp.then(|| OtlpConfig::from_vars(&var));
        TraceEnv {
            privacy,
            otlp,
            unrecognised,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> TraceEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TraceEnv::from_lookup(move |k| {
            pairs
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn nothing_set_records_everything_and_exports_nothing() {
        let e = env(&[]);
        assert_eq!(e.privacy, Privacy::default());
        assert!(e.otlp.is_none());
        assert!(e.unrecognised.is_empty());
    }

    #[test]
    fn switches_turn_off_with_any_spelling_of_off() {
        let e = env(&[
            ("SIGIL_TRACE_INPUTS", " OFF "),
            ("SIGIL_TRACE_OUTPUTS", "0"),
            ("SIGIL_TRACE_MESSAGES", "yes"),
        ]);
        assert!(!e.privacy.record_inputs);
        assert!(!e.privacy.record_outputs);
        assert!(e.privacy.record_messages);
        assert!(e.privacy.redact_secrets);
        assert!(e.unrecognised.is_empty());
    }

    #[test]
    fn an_unknown_switch_value_stays_on_and_is_reported() {
        let e = env(&[("SIGIL_TRACE_INPUTS", "of")]);
        assert!(e.privacy.record_inputs);
        assert_eq!(
            e.unrecognised,
            [TraceFlagError {
                var: "SIGIL_TRACE_INPUTS".into(),
                value: "of".into()
            }]
        );
    }

    #[test]
    fn an_endpoint_switches_export_on_and_bad_settings_are_typed_errors() {
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]);
        let cfg = e.otlp.unwrap().unwrap();
        assert_eq!(cfg.endpoint, "http://127.0.0.1:4318/v1/traces");
        let e = env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://nope")]);
        assert_eq!(e.otlp, Some(Err(OtlpError::Endpoint("ftp://nope".into()))));
        // Headers alone do not switch export on.
        assert!(env(&[("OTEL_EXPORTER_OTLP_HEADERS", "a=b")]).otlp.is_none());
        assert!(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]).otlp.is_none());
    }
}
