//! RFI flagging of the group's MS in place (FLAG, FLAG_ROW), before anything reads its data.

use dsa110_calibration::{flag_ms, FlagParams};

use crate::metrics::{self as m, Stage as StageLabel};
use crate::runner::{with_retry, DB_GIVE_UP_AFTER};
use crate::stage::{GroupWork, ProductKind, Stage, StageContext, StageError, StageOutput};

/// AOFlagger-style SumThreshold + SIR over every baseline and polarisation
/// ([`dsa110_calibration::flag`]); turned off by `--no-flagging`.
#[derive(Clone, Debug, Default)]
pub struct FlaggingStage {
    params: FlagParams,
}

impl Stage for FlaggingStage {
    fn name(&self) -> &'static str {
        StageLabel::Flagging.as_str()
    }

    fn metric_label(&self) -> Option<StageLabel> {
        Some(StageLabel::Flagging)
    }

    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet]
    }

    fn produces(&self) -> &'static [ProductKind] {
        &[]
    }

    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let ms = work.ms(self.name())?;
        let report = flag_ms(ms, &self.params).map_err(|source| StageError::Calibration {
            what: format!("flagging {}", ms.display()),
            source: Box::new(source),
        })?;
        m::set_ms_flagged_fraction(report.fraction);
        let worst_antenna = report
            .per_antenna
            .iter()
            .max_by(|a, b| a.fraction.total_cmp(&b.fraction));
        tracing::info!(
            ms = %ms.display(),
            flagged_fraction = report.fraction,
            before = report.n_flagged_before,
            after = report.n_flagged,
            per_subband = ?report.per_spw,
            worst_antenna = ?worst_antenna.map(|a| (a.antenna, a.fraction)),
            "group flagged"
        );
        with_retry("set_ms_stage", DB_GIVE_UP_AFTER, || {
            ctx.queue.set_ms_stage(ms, Some(self.name()), Some("done"))
        })?;
        Ok(StageOutput::default())
    }
}
