//! The metadata comments of a script (`// name: X`, `// include: @a,@b`,
//! `// table-retain-lines: N`, `// custom-output-block`).

/// Metadata comments (`// name: X`, `// include: @a,@b`,
/// `// table-retain-lines: N`, `// custom-output-block`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    /// The script's name: its metric subtree; named scripts never expire.
    pub name: Option<String>,
    /// Only these variables are exported (exact `@name` strings).
    pub include: Option<Vec<String>>,
    /// Keep the first output line plus the last N lines.
    pub table_retain_lines: Option<usize>,
    /// Don't append the print block: the script prints its maps itself.
    pub custom_output_block: bool,
}

fn valid_script_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads the metadata comments: lines starting with `//`, a key of word
/// characters and `-`, and an optional `: value`.
pub fn parse_metadata(code: &str) -> Result<Metadata, String> {
    let mut md = Metadata::default();
    for line in code.lines() {
        let Some(rest) = line.strip_prefix("//") else {
            continue;
        };
        let rest = rest.trim();
        let key_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        if key_len == 0 {
            continue;
        }
        let key = &rest[..key_len];
        let after = rest[key_len..].trim_start();
        let value = if after.is_empty() {
            ""
        } else if let Some(v) = after.strip_prefix(':') {
            v.trim()
        } else {
            // Ordinary prose in a comment ("// name the thing"): not metadata.
            continue;
        };
        match key {
            "name" => {
                if !valid_script_name(value) {
                    return Err(format!(
                        "invalid value '{value}' for name: must start with a letter and contain only letters, digits and '_'"
                    ));
                }
                md.name = Some(value.to_string());
            }
            "include" => {
                md.include = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "table-retain-lines" => {
                md.table_retain_lines = Some(
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            format!(
                                "invalid value '{value}' for table-retain-lines, must be numeric"
                            )
                        })?,
                )
            }
            "custom-output-block" => md.custom_output_block = true,
            _ => {}
        }
    }
    Ok(md)
}
