//! Signatures: what an LM step takes and returns.
//!
//! ```
//! use sigil::signature::Signature;
//! let sig = Signature::parse("question, context: list[str] -> answer: int").unwrap();
//! assert_eq!(sig.inputs().len(), 2);
//! assert_eq!(sig.instructions(), "Given the fields `question`, `context`, produce the fields `answer`.");
//! ```

mod parse;
mod rust_types;
mod types;

pub use parse::SignatureParseError;
pub use rust_types::SigilType;
pub use types::FieldType;
pub(crate) use types::tool_calls_pydantic_schema;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Which side of a signature a field is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Given to the LM.
    Input,
    /// Produced by the LM.
    Output,
}

/// One named, typed field of a signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The field's name, an identifier.
    pub name: String,
    /// The field's type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Description shown to the LM; `None` renders as DSPy's default (`${name}`-style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// DSPy's field prefix (`Question:`); kept for saved-program interop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl Field {
    /// A field with no description or prefix of its own.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Field {
            name: name.into(),
            ty,
            desc: None,
            prefix: None,
        }
    }
    /// Sets the description.
    pub fn with_desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// The description as DSPy renders it: the given one, else `${name}`.
    pub fn desc_or_default(&self) -> String {
        self.desc
            .clone()
            .unwrap_or_else(|| format!("${{{}}}", self.name))
    }

    /// The prefix as DSPy derives it from the name when none is set (`question_text` -> `Question Text:`).
    pub fn prefix_or_default(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| infer_prefix(&self.name))
    }
}

/// DSPy's rule for turning a field name into a prompt prefix.
pub(crate) fn infer_prefix(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        // Split camelCase boundaries as DSPy does.
        let mut cur = String::new();
        let chars: Vec<char> = part.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if i > 0
                && c.is_uppercase()
                && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit())
            {
                words.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
        if !cur.is_empty() {
            words.push(cur);
        }
    }
    let titled: Vec<String> = words
        .iter()
        .map(|w| {
            if w.chars().all(|c| c.is_uppercase() || c.is_ascii_digit()) && w.len() > 1 {
                w.clone()
            } else {
                let mut cs = w.chars();
                match cs.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + &cs.as_str().to_lowercase(),
                    None => String::new(),
                }
            }
        })
        .collect();
    format!("{}:", titled.join(" "))
}

/// Errors from building or editing a signature.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The string form did not parse.
    #[error(transparent)]
    Parse(#[from] SignatureParseError),
    /// Two fields have this name.
    #[error("field `{0}` appears more than once in the signature")]
    DuplicateField(String),
    /// No field has this name.
    #[error("no field named `{0}` in the signature")]
    NoSuchField(String),
    /// This name is not an identifier.
    #[error("field name `{0}` is not a valid identifier")]
    BadFieldName(String),
    /// A `Tool` in an output field: the LM cannot produce a tool (it asks for calls
    /// with a `ToolCalls` output).
    #[error(
        "output field `{0}` holds a Tool; tools are inputs (an LM asks for calls with a ToolCalls output)"
    )]
    ToolOutput(String),
    /// An insert position past the end of the fields.
    #[error("insert position {index} is past the end of the {kind:?} fields ({len})")]
    BadIndex {
        /// Inputs or outputs.
        kind: FieldKind,
        /// The position asked for.
        index: usize,
        /// How many fields of that kind there are.
        len: usize,
    },
}

/// A declaration of an LM step: instructions, input fields and output fields.
///
/// Signatures are values: every edit returns a new signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    inputs: Vec<Field>,
    outputs: Vec<Field>,
}

impl Signature {
    /// Builds a signature from fields, checking names are unique identifiers.
    pub fn new(inputs: Vec<Field>, outputs: Vec<Field>) -> Result<Self, SignatureError> {
        let sig = Signature {
            instructions: None,
            inputs,
            outputs,
        };
        sig.validate()?;
        Ok(sig)
    }

    /// Parses the string form `"question, context: list[str] -> answer: int"`.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let (inputs, outputs) = parse::parse_signature(text)?;
        Signature::new(inputs, outputs)
    }

    /// Parses the string form and sets instructions.
    pub fn parse_with_instructions(
        text: &str,
        instructions: impl Into<String>,
    ) -> Result<Self, SignatureError> {
        Ok(Signature::parse(text)?.with_instructions(instructions))
    }

    fn validate(&self) -> Result<(), SignatureError> {
        let mut seen = std::collections::HashSet::new();
        for f in self.inputs.iter().chain(&self.outputs) {
            if !parse::is_identifier(&f.name) {
                return Err(SignatureError::BadFieldName(f.name.clone()));
            }
            if !seen.insert(f.name.as_str()) {
                return Err(SignatureError::DuplicateField(f.name.clone()));
            }
        }
        if let Some(f) = self.outputs.iter().find(|f| f.ty.holds_tool()) {
            return Err(SignatureError::ToolOutput(f.name.clone()));
        }
        Ok(())
    }

    /// The instructions, or DSPy's default sentence when none were given.
    pub fn instructions(&self) -> String {
        match &self.instructions {
            Some(i) => i.clone(),
            None => default_instructions(&self.inputs, &self.outputs),
        }
    }

    /// The instructions only if they were set explicitly.
    pub fn explicit_instructions(&self) -> Option<&str> {
        self.instructions.as_deref()
    }

    /// The input fields, in order.
    pub fn inputs(&self) -> &[Field] {
        &self.inputs
    }
    /// The output fields, in order.
    pub fn outputs(&self) -> &[Field] {
        &self.outputs
    }
    /// Every field, inputs first, with its side.
    pub fn fields(&self) -> impl Iterator<Item = (FieldKind, &Field)> {
        self.inputs
            .iter()
            .map(|f| (FieldKind::Input, f))
            .chain(self.outputs.iter().map(|f| (FieldKind::Output, f)))
    }
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.inputs
            .iter()
            .chain(&self.outputs)
            .find(|f| f.name == name)
    }

    /// This signature with other instructions.
    pub fn with_instructions(&self, instructions: impl Into<String>) -> Self {
        let mut s = self.clone();
        s.instructions = Some(instructions.into());
        s
    }

    /// Sets the description of one field.
    pub fn with_field_desc(
        &self,
        name: &str,
        desc: impl Into<String>,
    ) -> Result<Self, SignatureError> {
        let mut s = self.clone();
        let f = s
            .inputs
            .iter_mut()
            .chain(s.outputs.iter_mut())
            .find(|f| f.name == name)
            .ok_or_else(|| SignatureError::NoSuchField(name.to_string()))?;
        f.desc = Some(desc.into());
        Ok(s)
    }

    /// Adds `field` before the other fields of its side.
    pub fn prepend(&self, kind: FieldKind, field: Field) -> Result<Self, SignatureError> {
        self.insert(kind, 0, field)
    }

    /// Adds `field` after the other fields of its side.
    pub fn append(&self, kind: FieldKind, field: Field) -> Result<Self, SignatureError> {
        let len = self.side(kind).len();
        self.insert(kind, len, field)
    }

    /// Adds `field` at `index` among the fields of its side.
    pub fn insert(
        &self,
        kind: FieldKind,
        index: usize,
        field: Field,
    ) -> Result<Self, SignatureError> {
        let mut s = self.clone();
        let side = match kind {
            FieldKind::Input => &mut s.inputs,
            FieldKind::Output => &mut s.outputs,
        };
        if index > side.len() {
            return Err(SignatureError::BadIndex {
                kind,
                index,
                len: side.len(),
            });
        }
        side.insert(index, field);
        s.validate()?;
        Ok(s)
    }

    /// Removes the field named `name`.
    pub fn delete(&self, name: &str) -> Result<Self, SignatureError> {
        let mut s = self.clone();
        let before = s.inputs.len() + s.outputs.len();
        s.inputs.retain(|f| f.name != name);
        s.outputs.retain(|f| f.name != name);
        if s.inputs.len() + s.outputs.len() == before {
            return Err(SignatureError::NoSuchField(name.to_string()));
        }
        Ok(s)
    }

    fn side(&self, kind: FieldKind) -> &[Field] {
        match kind {
            FieldKind::Input => &self.inputs,
            FieldKind::Output => &self.outputs,
        }
    }

    /// The string form, e.g. `question, context: list[str] -> answer: int`.
    pub fn to_signature_string(&self) -> String {
        let side = |fs: &[Field]| {
            fs.iter()
                .map(|f| {
                    if f.ty.is_str() {
                        f.name.clone()
                    } else {
                        format!("{}: {}", f.name, f.ty.sigil_name())
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{} -> {}", side(&self.inputs), side(&self.outputs))
    }

    /// JSON schema of the object holding all output fields.
    pub fn output_schema(&self) -> Value {
        let mut props = Map::new();
        for f in &self.outputs {
            props.insert(f.name.clone(), f.ty.json_schema());
        }
        let required: Vec<&str> = self.outputs.iter().map(|f| f.name.as_str()).collect();
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }
}

fn default_instructions(inputs: &[Field], outputs: &[Field]) -> String {
    let names = |fs: &[Field]| {
        fs.iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "Given the fields {}, produce the fields {}.",
        names(inputs),
        names(outputs)
    )
}

/// Types that declare a signature at compile time (`#[derive(Signature)]`).
pub trait TypedSignature {
    /// The declared signature.
    fn signature() -> Signature;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_instructions_match_dspy() {
        let s = Signature::parse("question, context -> answer").unwrap();
        assert_eq!(
            s.instructions(),
            "Given the fields `question`, `context`, produce the fields `answer`."
        );
    }

    #[test]
    fn edits_return_new_signatures() {
        let s = Signature::parse("question -> answer").unwrap();
        let s2 = s
            .prepend(FieldKind::Output, Field::new("reasoning", FieldType::Str))
            .unwrap();
        assert_eq!(s.outputs().len(), 1);
        assert_eq!(s2.outputs()[0].name, "reasoning");
        let s3 = s2.delete("reasoning").unwrap();
        assert_eq!(s3, s);
        assert!(matches!(
            s.delete("nope"),
            Err(SignatureError::NoSuchField(_))
        ));
        assert!(matches!(
            s.append(FieldKind::Input, Field::new("answer", FieldType::Str)),
            Err(SignatureError::DuplicateField(_))
        ));
        let s4 = s
            .insert(
                FieldKind::Input,
                1,
                Field::new("ctx", FieldType::list(FieldType::Str)),
            )
            .unwrap();
        assert_eq!(
            s4.to_signature_string(),
            "question, ctx: list[str] -> answer"
        );
        assert!(
            s.insert(FieldKind::Input, 5, Field::new("x", FieldType::Str))
                .is_err()
        );
    }

    #[test]
    fn prefixes_follow_dspy() {
        assert_eq!(infer_prefix("question"), "Question:");
        assert_eq!(infer_prefix("question_text"), "Question Text:");
        assert_eq!(infer_prefix("someCamelCase"), "Some Camel Case:");
    }
}
