//! Reading what a fake LM was asked.

use sigil::lm::LmRequest;

/// The value of input field `field` in the request's last message, as the
/// ChatAdapter renders it (`[[ ## field ## ]]` then the value's first line, trimmed);
/// empty when the field is not there.
///
/// ```
/// use sigil::lm::{LmRequest, Message};
/// let req = LmRequest::new(vec![Message::user("[[ ## question ## ]]\n2+2?\n")]);
/// assert_eq!(sigil_testkit::field_of(&req, "question"), "2+2?");
/// assert_eq!(sigil_testkit::field_of(&req, "answer"), "");
/// ```
pub fn field_of(req: &LmRequest, field: &str) -> String {
    let last = req
        .messages
        .last()
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let marker = format!("[[ ## {field} ## ]]\n");
    last.split(&marker)
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("")
        .trim()
        .to_string()
}
