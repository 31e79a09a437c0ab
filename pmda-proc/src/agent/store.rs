//! Stores into the agent's control metrics.

use pcp_core::{ClientContext, PmError, Value};

use super::{Handle, ProcAgent};
use crate::access::Access;
use crate::psvalues::cluster;

impl ProcAgent {
    /// Stores into a control metric (`proc.control.*`, `hotproc.control.*`,
    /// `acct.control.*`), as `client`.
    pub(super) fn store_control(
        &mut self,
        m: Handle,
        value: &Value,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        if let Handle::HotGlobal(item) = m {
            if client.user_id != Some(0) {
                return Err(PmError::PERMISSION);
            }
            return match item {
                1 => {
                    self.hot.set_interval(u32::try_from(value)?);
                    Ok(())
                }
                8 => self
                    .hot
                    .set_config(&String::try_from(value)?)
                    .map_err(|_| PmError::BADSTORE),
                10 => self.hot.reload().map_err(|_| PmError::BADSTORE),
                _ => Err(PmError::PERMISSION),
            };
        }
        if let Handle::Acct(item) = m {
            if client.user_id != Some(0) {
                return Err(PmError::PERMISSION);
            }
            let c = &mut self.acct.controls;
            match item {
                23 => c.open_retry_interval = u32::try_from(value)?,
                24 => c.check_acct_interval = u32::try_from(value)?,
                25 => c.file_size_threshold = u64::try_from(value)?,
                26 => c.lifetime = u32::try_from(value)?,
                27 => match u32::try_from(value)? {
                    0 => return Err(PmError::PERMISSION),
                    v => c.refresh = v,
                },
                28 => self.acct.set_enabled(u32::try_from(value)? != 0),
                _ => return Err(PmError::PERMISSION),
            }
            return Ok(());
        }
        let Handle::Proc(c, item) = m else {
            return Err(PmError::PERMISSION);
        };
        if c != cluster::CONTROL {
            return Err(PmError::PERMISSION);
        }
        match item {
            1 => {
                if Access::of(client, self.settings.all_access) == Access::Denied {
                    return Err(PmError::PERMISSION);
                }
                match u32::try_from(value)? {
                    v @ (0 | 1) => self.settings.threads = v == 1,
                    _ => return Err(PmError::BADSTORE),
                }
            }
            2 => self.clients.entry(client.slot).or_default().threads = u32::try_from(value)? != 0,
            3 => self.clients.entry(client.slot).or_default().cgroups = String::try_from(value)?,
            _ => return Err(PmError::PERMISSION),
        }
        Ok(())
    }
}
