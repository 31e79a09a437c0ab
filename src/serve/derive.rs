//! `/pmapi/derive`: derived metrics defined by a client for its context,
//! as pmproxy 6.0.3 answers it.
//!
//! - `name=NAME&expr=EXPR` (or `name=` with the expression as a POST body)
//!   defines one metric (pmAddDerivedMetric): `{"success":true}`, or
//!   pmAddDerivedMetric's message ("Syntax Error: ...", "Semantic Error:
//!   ...", "Error: ...: returns -12409 ...") with status 400;
//! - `expr=TEXT` alone (or a POST body alone) is "configuration file mode":
//!   lines of `NAME = EXPR` (or `NAME EXPR`), `#` comments, each line ended
//!   by a newline, `&` or `;` (pmproxy's markers); a failing line stops
//!   there with "failed to create derived metric ... on line N from: ...",
//!   and a definition without its end marker is "incomplete expression";
//! - anything else: "invalid derive parameters".
//!
//! A metric whose operands are unknown is accepted and stays invisible, as
//! in pmproxy. The definitions live as long as the context; their number
//! over all contexts is bounded (see [`super::context`]).

use pcp_core::Pmapi;

use super::context::Contexts;

/// One definition of pmproxy's configuration mode, or where parsing
/// stopped.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Metric {
        name: &'a str,
        expr: &'a str,
        line: usize,
    },
    Incomplete {
        name: &'a str,
        line: usize,
    },
}

fn marker(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b'&' | b';')
}

fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits a configuration text as pmproxy's webgroup_derived_metrics does.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let b = text.as_bytes();
    let end = b.len();
    let mut out = Vec::new();
    let mut line = 0usize;
    let mut p = 0usize;
    while p < end {
        if space(b[p]) {
            if b[p] == b'\n' {
                line += 1;
            }
            p += 1;
            continue;
        }
        if b[p] == b'#' {
            while p < end && !marker(b[p]) {
                p += 1;
            }
            if p == end {
                break;
            }
            line += 1;
            p += 1;
            continue;
        }
        let name_start = p;
        while p < end && !space(b[p]) && b[p] != b'=' {
            p += 1;
        }
        let name = &text[name_start..p];
        if p == end {
            out.push(Piece::Incomplete { name, line });
            return out;
        }
        p += 1;
        while p < end && ((space(b[p]) && !marker(b[p])) || b[p] == b'=') {
            p += 1;
        }
        let expr_start = p;
        while p < end && !marker(b[p]) {
            p += 1;
        }
        if p == end {
            out.push(Piece::Incomplete { name, line });
            return out;
        }
        out.push(Piece::Metric {
            name,
            expr: &text[expr_start..p],
            line,
        });
        line += 1;
        p += 1;
    }
    out
}

/// What `/pmapi/derive` answers: Ok (success) or the message of a 400.
pub(crate) fn derive(
    base: &dyn Pmapi,
    contexts: &Contexts,
    ctx: u32,
    name: Option<&str>,
    expr: Option<&str>,
) -> Result<(), String> {
    let add = |name: &str, expr: &str| -> Result<(), String> {
        contexts
            .add_derived(ctx, expr.len(), |d| d.add(base, name, expr))?
            .map(|_| ())
            .map_err(|e| e.message)
    };
    match (name, expr) {
        (Some(name), Some(expr)) => add(name, expr),
        (None, Some(text)) => {
            for piece in pieces(text) {
                match piece {
                    Piece::Metric { name, expr, line } => {
                        add(name, expr).map_err(|e| {
                            format!(
                                "failed to create derived metric \"{name}\" on line {line} from: {expr}\n{e}"
                            )
                        })?;
                    }
                    Piece::Incomplete { name, line } => {
                        return Err(format!(
                            "failed to parse derived metric \"{name}\" on line {line} - incomplete expression\n"
                        ))
                    }
                }
            }
            Ok(())
        }
        _ => Err("invalid derive parameters".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_mode_as_pmproxy_splits_it() {
        assert_eq!(
            pieces("# c\nmy.a = hinv.ncpu * 2\nmy.b kernel.all.load\n"),
            vec![
                Piece::Metric {
                    name: "my.a",
                    expr: "hinv.ncpu * 2",
                    line: 1
                },
                Piece::Metric {
                    name: "my.b",
                    expr: "kernel.all.load",
                    line: 2
                },
            ]
        );
        assert_eq!(
            pieces("my.a = hinv.ncpu * 2"),
            vec![Piece::Incomplete {
                name: "my.a",
                line: 0
            }]
        );
        assert_eq!(
            pieces("a.b"),
            vec![Piece::Incomplete {
                name: "a.b",
                line: 0
            }]
        );
        assert_eq!(
            pieces("x=1;y=2&"),
            vec![
                Piece::Metric {
                    name: "x",
                    expr: "1",
                    line: 0
                },
                Piece::Metric {
                    name: "y",
                    expr: "2",
                    line: 1
                },
            ]
        );
    }
}
