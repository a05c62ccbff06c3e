//! Reading an artifact: bytes → text → TOML → version check and migration →
//! typed artifact → validation. Nothing is returned until every step passed.

use super::ArtifactError;
use super::format::{Artifact, FORMAT_VERSION};

pub(super) fn from_bytes(bytes: &[u8], file: &str) -> Result<Artifact, ArtifactError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ArtifactError::NotUtf8 {
        file: file.to_string(),
        offset: e.valid_up_to(),
    })?;
    let syntax = |e: toml::de::Error| ArtifactError::Syntax {
        file: file.to_string(),
        message: describe_toml_error(text, &e),
    };
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    let version = match table.get("format_version") {
        None => {
            return Err(ArtifactError::MissingVersion {
                file: file.to_string(),
            });
        }
        Some(toml::Value::Integer(v)) => *v,
        Some(other) => {
            return Err(ArtifactError::Invalid {
                file: file.to_string(),
                message: format!(
                    "`format_version` should be an integer, got {} `{other}`",
                    other.type_str()
                ),
            });
        }
    };
    if version < 1 {
        return Err(ArtifactError::Invalid {
            file: file.to_string(),
            message: format!("`format_version = {version}` is not a version (they start at 1)"),
        });
    }
    if version > i64::from(FORMAT_VERSION) {
        return Err(ArtifactError::UnknownVersion {
            file: file.to_string(),
            found: version,
            supported: FORMAT_VERSION,
            sigil: env!("CARGO_PKG_VERSION"),
        });
    }
    let artifact: Artifact = if version == i64::from(FORMAT_VERSION) {
        // Deserialize from the text itself, so errors carry its line and column.
        toml::from_str(text).map_err(syntax)?
    } else {
        let migrated = migrate(table, version, file)?;
        let migrated_text = toml::to_string(&migrated).map_err(|e| ArtifactError::Invalid {
            file: file.to_string(),
            message: format!("cannot migrate from format_version {version}: {e}"),
        })?;
        toml::from_str(&migrated_text).map_err(|e| ArtifactError::Syntax {
            file: file.to_string(),
            message: format!(
                "after migrating from format_version {version}: {}",
                e.message()
            ),
        })?
    };
    artifact.validate(file)?;
    Ok(artifact)
}

/// One step per older format: `MIGRATIONS[i]` turns a format `i + 1` table into a
/// format `i + 2` table. Version 1 is the first format, so the list is empty; the
/// next format appends `v1_to_v2` here and every older file keeps loading.
const MIGRATIONS: &[fn(toml::Table) -> toml::Table] = &[];

/// Brings a table written by format `version` up to [`FORMAT_VERSION`], one step at a time.
fn migrate(mut table: toml::Table, version: i64, file: &str) -> Result<toml::Table, ArtifactError> {
    for from in version..i64::from(FORMAT_VERSION) {
        let step = usize::try_from(from - 1)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
            .ok_or_else(|| ArtifactError::Invalid {
                file: file.to_string(),
                message: format!("no migration from format_version {from}"),
            })?;
        table = step(table);
    }
    table.insert(
        "format_version".into(),
        toml::Value::Integer(i64::from(FORMAT_VERSION)),
    );
    Ok(table)
}

/// toml's message with the line, column, section and the line's text, so the error
/// names the key that is wrong (`line 82, column 8, in [[predictors]]: `path = 3`: ...`).
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    let Some(span) = e.span() else {
        return msg.to_string();
    };
    let (line, col) = line_col(text, span.start);
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line - 1).map(|l| l.trim()).unwrap_or("");
    let section = lines
        .iter()
        .take(line.saturating_sub(1))
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['));
    let mut out = format!("line {line}, column {col}");
    if let Some(section) = section {
        out.push_str(&format!(", in {section}"));
    }
    if !here.is_empty() && here.chars().count() <= 120 {
        out.push_str(&format!(": `{here}`"));
    }
    format!("{out}: {msg}")
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_older_format_has_a_migration() {
        assert_eq!(MIGRATIONS.len() as u32, FORMAT_VERSION - 1);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn unknown_and_missing_versions_are_named() {
        let e = from_bytes(b"format_version = 99\n", "x.toml").unwrap_err();
        assert!(
            matches!(e, ArtifactError::UnknownVersion { found: 99, .. }),
            "{e}"
        );
        let e = from_bytes(b"adapter = \"chat\"\n", "x.toml").unwrap_err();
        assert!(matches!(e, ArtifactError::MissingVersion { .. }), "{e}");
        let e = from_bytes(b"format_version = \"1\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("should be an integer"), "{e}");
    }
}
