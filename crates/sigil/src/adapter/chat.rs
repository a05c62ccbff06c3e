//! PLACEHOLDER — being replaced by the ChatAdapter implementation.
use super::*;
use crate::lm::Message;

/// DSPy's ChatAdapter wire format.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatAdapter;

impl Adapter for ChatAdapter {
    fn name(&self) -> &'static str {
        "chat"
    }
    fn format(&self, _s: &Signature, _d: &[Example], _i: &Example) -> Result<Vec<Message>, FormatError> {
        todo!()
    }
    fn parse(&self, _s: &Signature, _c: &str) -> Result<Fields, ParseError> {
        todo!()
    }
}
