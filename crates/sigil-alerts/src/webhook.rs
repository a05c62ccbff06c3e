//! Posting firing alerts to a webhook.

use std::time::Duration;

use crate::{AlertError, AlertReport, AlertResult};

/// POSTs the firing alerts as JSON (`{"source": "sigil", "alerts": [...]}`) to `url`.
/// Does nothing when none fire.
pub async fn post_webhook(url: &str, report: &AlertReport) -> Result<(), AlertError> {
    let firing: Vec<&AlertResult> = report.firing().collect();
    if firing.is_empty() {
        return Ok(());
    }
    let body = serde_json::json!({"source": "sigil", "checked_at_ns": report.checked_at_ns, "alerts": firing});
    let err = |message: String| AlertError::Webhook {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status().as_u16())));
    }
    Ok(())
}
