//! Lines of a Nagios perfdata file, read through the template Nagios wrote
//! them with: Nagios 4's defaults (tab-separated, a literal
//! `[SERVICEPERFDATA]` / `[HOSTPERFDATA]` first field), pnp4nagios's
//! `KEY::value` fields (any order), or any `$MACRO$` template given in the
//! configuration.
//!
//! ```
//! use pmda_nagios::template::{Kind, Template};
//! let t = Template::nagios_service();
//! let line = "[SERVICEPERFDATA]\t1700000000\tweb1\tLoad\t0.012\t0.100\tOK - load 0.5\tload1=0.5;5;10";
//! let r = t.read(line).unwrap();
//! assert_eq!((r.kind, r.host, r.service), (Kind::Service, "web1", Some("Load")));
//! assert_eq!((r.timet, r.exec_time, r.perfdata), (Some(1700000000), Some(0.012), "load1=0.5;5;10"));
//! ```

/// The macros a template may hold that the agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Macro {
    TimeT,
    HostName,
    ServiceDesc,
    ExecTime,
    Latency,
    Output,
    PerfData,
    State,
    StateId,
    Ignored,
}

fn macro_of(name: &str) -> Macro {
    match name {
        "TIMET" => Macro::TimeT,
        "HOSTNAME" => Macro::HostName,
        "SERVICEDESC" => Macro::ServiceDesc,
        "SERVICEEXECUTIONTIME" | "HOSTEXECUTIONTIME" => Macro::ExecTime,
        "SERVICELATENCY" | "HOSTLATENCY" => Macro::Latency,
        "SERVICEOUTPUT" | "HOSTOUTPUT" => Macro::Output,
        "SERVICEPERFDATA" | "HOSTPERFDATA" => Macro::PerfData,
        "SERVICESTATE" | "HOSTSTATE" => Macro::State,
        "SERVICESTATEID" | "HOSTSTATEID" => Macro::StateId,
        _ => Macro::Ignored,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Literal(String),
    Macro(Macro),
}

/// How the lines of one kind are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Layout);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    /// Tab-separated fields in a fixed order.
    Positional(Vec<Field>),
    /// `KEY::value` fields in any order (pnp4nagios's templates).
    Keyed,
}

/// Whether a line is a service check result or a host check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A service check.
    Service,
    /// A host check.
    Host,
}

/// One line of a perfdata file (borrowing from the line).
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Service or host check.
    pub kind: Kind,
    /// When the check ran (`$TIMET$`).
    pub timet: Option<i64>,
    /// The host.
    pub host: &'a str,
    /// The service (`None` for a host check).
    pub service: Option<&'a str>,
    /// Execution time in seconds.
    pub exec_time: Option<f64>,
    /// Scheduling latency in seconds.
    pub latency: Option<f64>,
    /// The status text.
    pub output: &'a str,
    /// Performance data.
    pub perfdata: &'a str,
    /// The state as 0..3 (services: OK, WARNING, CRITICAL, UNKNOWN; hosts:
    /// UP 0, DOWN 2, UNREACHABLE 3, as Nagios's check results number them).
    pub state: Option<u32>,
}

/// Why a line was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line matches no template (wrong literal first field, too few
    /// fields).
    #[error("line does not match the template")]
    NoMatch,
    /// No host name in the line.
    #[error("no host name")]
    NoHost,
}

impl Template {
    /// Nagios 4's default `service_perfdata_file_template`.
    pub fn nagios_service() -> Template {
        Template::parse("[SERVICEPERFDATA]\t$TIMET$\t$HOSTNAME$\t$SERVICEDESC$\t$SERVICEEXECUTIONTIME$\t$SERVICELATENCY$\t$SERVICEOUTPUT$\t$SERVICEPERFDATA$")
            .expect("Nagios's default template parses")
    }

    /// Nagios 4's default `host_perfdata_file_template`.
    pub fn nagios_host() -> Template {
        Template::parse(
            "[HOSTPERFDATA]\t$TIMET$\t$HOSTNAME$\t$HOSTEXECUTIONTIME$\t$HOSTOUTPUT$\t$HOSTPERFDATA$",
        )
        .expect("Nagios's default template parses")
    }

    /// pnp4nagios's `KEY::value` layout.
    pub fn keyed() -> Template {
        Template(Layout::Keyed)
    }

    /// A template as written in Nagios's configuration: tab-separated
    /// fields, each a `$MACRO$` or literal text; a template whose fields
    /// are `KEY::$MACRO$` is read as keyed.
    pub fn parse(text: &str) -> Result<Template, String> {
        let fields: Vec<&str> = text.split('\t').collect();
        if fields.iter().any(|f| f.contains("::")) {
            return Ok(Template(Layout::Keyed));
        }
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            match f.strip_prefix('$').and_then(|m| m.strip_suffix('$')) {
                Some(m) if !m.is_empty() && !m.contains('$') => out.push(Field::Macro(macro_of(m))),
                _ if f.contains('$') => {
                    return Err(format!("template field {f:?} mixes text and a macro"))
                }
                _ => out.push(Field::Literal(f.to_string())),
            }
        }
        if !out.contains(&Field::Macro(Macro::HostName)) {
            return Err("template has no $HOSTNAME$".into());
        }
        Ok(Template(Layout::Positional(out)))
    }

    fn is_service(&self) -> bool {
        match &self.0 {
            Layout::Positional(f) => f.contains(&Field::Macro(Macro::ServiceDesc)),
            Layout::Keyed => true,
        }
    }

    /// Reads one line (without its newline).
    pub fn read<'a>(&self, line: &'a str) -> Result<Record<'a>, LineError> {
        let mut r = Record {
            kind: if self.is_service() {
                Kind::Service
            } else {
                Kind::Host
            },
            timet: None,
            host: "",
            service: None,
            exec_time: None,
            latency: None,
            output: "",
            perfdata: "",
            state: None,
        };
        let mut state_text = None;
        match &self.0 {
            Layout::Positional(fields) => {
                if line
                    .bytes()
                    .filter(|&b| b == b'\t')
                    .take(fields.len())
                    .count()
                    + 1
                    < fields.len()
                {
                    return Err(LineError::NoMatch);
                }
                for (f, v) in fields.iter().zip(line.splitn(fields.len(), '\t')) {
                    match f {
                        Field::Literal(l) if l != v => return Err(LineError::NoMatch),
                        Field::Literal(_) => {}
                        Field::Macro(m) => set(&mut r, &mut state_text, *m, v),
                    }
                }
            }
            Layout::Keyed => {
                let mut datatype = None;
                for field in line.split('\t') {
                    let Some((k, v)) = field.split_once("::") else {
                        continue;
                    };
                    if k == "DATATYPE" {
                        datatype = Some(v);
                    } else {
                        set(&mut r, &mut state_text, macro_of(k), v);
                    }
                }
                r.kind = match datatype {
                    Some("SERVICEPERFDATA") => Kind::Service,
                    Some("HOSTPERFDATA") => Kind::Host,
                    _ => return Err(LineError::NoMatch),
                };
                if r.kind == Kind::Host {
                    r.service = None;
                }
            }
        }
        if r.state.is_none() {
            r.state = state_text.and_then(|t| state_number(r.kind, t));
        }
        if r.host.is_empty() {
            return Err(LineError::NoHost);
        }
        if r.kind == Kind::Service && r.service.is_none() {
            return Err(LineError::NoMatch);
        }
        Ok(r)
    }
}

fn set<'a>(r: &mut Record<'a>, state_text: &mut Option<&'a str>, m: Macro, v: &'a str) {
    match m {
        Macro::TimeT => r.timet = v.trim().parse().ok(),
        Macro::HostName => r.host = v,
        Macro::ServiceDesc => r.service = Some(v),
        Macro::ExecTime => r.exec_time = v.trim().parse().ok(),
        Macro::Latency => r.latency = v.trim().parse().ok(),
        Macro::Output => r.output = v,
        Macro::PerfData => r.perfdata = v,
        Macro::State => *state_text = Some(v),
        Macro::StateId => r.state = v.trim().parse().ok().filter(|s| *s <= 3),
        Macro::Ignored => {}
    }
}

/// The state number of a state name.
fn state_number(kind: Kind, text: &str) -> Option<u32> {
    Some(match (kind, text.trim()) {
        (_, "OK") | (Kind::Host, "UP") => 0,
        (_, "WARNING") => 1,
        (_, "CRITICAL") | (Kind::Host, "DOWN") => 2,
        (_, "UNKNOWN") | (Kind::Host, "UNREACHABLE") => 3,
        _ => return None,
    })
}

/// The name of a service state number (`OK` ... `UNKNOWN`).
pub fn state_name(state: u32) -> &'static str {
    match state {
        0 => "OK",
        1 => "WARNING",
        2 => "CRITICAL",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_lines_in_any_order() {
        let t = Template::keyed();
        let line = "DATATYPE::SERVICEPERFDATA\tTIMET::1700000000\tHOSTNAME::db\tSERVICEDESC::Disk /\tSERVICEPERFDATA::/=1MB;;;0;2\tSERVICESTATE::WARNING";
        let r = t.read(line).unwrap();
        assert_eq!(
            (r.host, r.service, r.state),
            ("db", Some("Disk /"), Some(1))
        );
        let host = "DATATYPE::HOSTPERFDATA\tTIMET::1\tHOSTNAME::db\tHOSTPERFDATA::rta=0.1ms\tHOSTSTATE::DOWN";
        let r = t.read(host).unwrap();
        assert_eq!((r.kind, r.service, r.state), (Kind::Host, None, Some(2)));
        assert_eq!(t.read("garbage"), Err(LineError::NoMatch));
    }

    #[test]
    fn default_templates_tell_service_from_host_lines() {
        let s = Template::nagios_service();
        let h = Template::nagios_host();
        let host = "[HOSTPERFDATA]\t1\tweb\t0.1\tPING OK\trta=1ms";
        assert_eq!(s.read(host), Err(LineError::NoMatch));
        assert_eq!(h.read(host).unwrap().host, "web");
        // The perfdata field takes the rest of the line, tabs and all.
        let odd = "[SERVICEPERFDATA]\t1\tweb\tx\t0\t0\tout\ta=1\tb=2";
        assert_eq!(s.read(odd).unwrap().perfdata, "a=1\tb=2");
        assert!(Template::parse("$TIMET$\tfoo$X$").is_err());
        assert!(Template::parse("$TIMET$").is_err());
    }
}
