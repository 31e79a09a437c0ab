//! An agent's options as the command-line arguments of the pmcd.conf line
//! that starts it under pmcd (`pcp-agent install`).

use std::path::PathBuf;

use super::AgentOptions;

impl AgentOptions {
    /// The options that configure agent `name`, as command-line arguments
    /// (for the pmcd.conf line that starts it under pmcd). Paths are made
    /// absolute.
    pub fn args_for(&self, name: &str) -> Vec<String> {
        let abs = |p: &PathBuf| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        };
        let mut a = Vec::new();
        if let Some(d) = &self.state_dir {
            a.extend(["--state-dir".to_string(), abs(d)]);
        }
        match name {
            "linux" => {
                if self.linux_root.as_os_str() != "/" {
                    a.extend(["--linux-root".to_string(), abs(&self.linux_root)]);
                }
                if !self.linux_disable.is_empty() {
                    a.extend(["--linux-disable".to_string(), self.linux_disable.join(",")]);
                }
            }
            "prometheus" => {
                a.extend([
                    "--prometheus-config".to_string(),
                    abs(&self.prometheus_config()),
                ]);
                a.extend([
                    "--prometheus-root".to_string(),
                    self.prometheus_root.clone(),
                ]);
                a.extend([
                    "--prometheus-timeout".to_string(),
                    self.prometheus_timeout.to_string(),
                ]);
                if let Some(u) = &self.prometheus_user {
                    a.extend(["--prometheus-user".to_string(), u.clone()]);
                }
                if self.prometheus_nosort {
                    a.push("--prometheus-nosort".into());
                }
                if self.prometheus_debug {
                    a.push("--prometheus-debug".into());
                }
                if self.prometheus_extended_control {
                    a.push("--prometheus-extended-control".into());
                }
                if let Some(s) = self.prometheus_scrape_interval {
                    a.extend(["--prometheus-scrape-interval".to_string(), s.to_string()]);
                }
                if let Some(s) = self.prometheus_deadline {
                    a.extend(["--prometheus-deadline".to_string(), s.to_string()]);
                }
                if let Some(s) = self.prometheus_min_interval {
                    a.extend(["--prometheus-min-interval".to_string(), s.to_string()]);
                }
                if self.prometheus_max_in_flight != pmda_prometheus::MAX_IN_FLIGHT {
                    a.extend([
                        "--prometheus-max-in-flight".to_string(),
                        self.prometheus_max_in_flight.to_string(),
                    ]);
                }
            }
            "bpftrace" => {
                for d in &self.bpftrace_autostart {
                    a.extend(["--bpftrace-autostart".to_string(), abs(d)]);
                }
                if let Some(c) = &self.bpftrace_config {
                    a.extend(["--bpftrace-config".to_string(), abs(c)]);
                }
                if let Some(f) = &self.bpftrace_profile {
                    a.extend(["--bpftrace-profile".to_string(), abs(f)]);
                }
            }
            "proc" => {
                if self.proc_root.as_os_str() != "/" {
                    a.extend(["--proc-root".to_string(), abs(&self.proc_root)]);
                }
                if self.proc_all_access {
                    a.push("--proc-all-access".into());
                }
                if self.proc_threads {
                    a.push("--proc-threads".into());
                }
            }
            "nagios" => {
                a.extend(["--nagios-config".to_string(), abs(&self.nagios_config())]);
                a.extend([
                    "--nagios-workers".to_string(),
                    self.nagios_workers.to_string(),
                ]);
            }
            _ => {}
        }
        a
    }
}
