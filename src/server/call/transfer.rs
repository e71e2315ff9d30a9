//! The driver's side of "press 0 for an agent": the REFER goes out beside the call, and the
//! NOTIFYs' news is put in the flow's terms.

use tracing::{info, warn};

use super::CallDriver;
use crate::ivr::{Event, TransferReport};
use crate::sip::TransferProgress;

impl CallDriver {
    /// Sends the REFER beside the call (its answer may take up to 64·T1); a refusal comes back
    /// as a failed transfer, an acceptance as progress only: the NOTIFYs decide.
    pub(super) fn transfer(&self) {
        let (control, call_id) = (self.control.clone(), self.call_id.clone());
        let target = self.services.config.ivr.operator_uri.clone();
        self.in_background(async move {
            let Some(target) = target else {
                // The flow offers an agent only when one is configured.
                return Event::Transfer(TransferReport::Failed);
            };
            match control.transfer(&target).await {
                Ok(()) => {
                    info!(%call_id, %target, "transfer accepted; waiting for its NOTIFY");
                    Event::Transfer(TransferReport::Trying)
                }
                Err(e) => {
                    warn!(%call_id, %target, error = %e, "transfer refused");
                    Event::Transfer(TransferReport::Failed)
                }
            }
        });
    }
}

/// What a NOTIFY's sipfrag means for the flow.
pub(super) fn report(progress: TransferProgress) -> TransferReport {
    match progress {
        TransferProgress::Trying => TransferReport::Trying,
        TransferProgress::Succeeded => TransferReport::Succeeded,
        TransferProgress::Failed(_) => TransferReport::Failed,
    }
}
