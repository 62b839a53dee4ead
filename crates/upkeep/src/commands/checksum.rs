//! `upkeep checksum --write | --check`: the seeds' checksummer.

use upkeep_core::checksum::Verdict;
use upkeep_core::exit_codes;

use super::{Context, print_json, print_text};
use crate::cli::ChecksumArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn checksum(ctx: &Context, args: ChecksumArgs) -> Result<i32, CliError> {
    let ChecksumArgs {
        write,
        check: _,
        modules,
        jobs,
    } = args;
    let report = upkeep_core::ops::checksum::checksum(&ctx.ops, &modules, write, jobs)?;
    if report.is_empty() && !ctx.json {
        crate::printer::get().status("note: no module in the manifest has a folder to checksum");
    }
    if ctx.json {
        print_json(&report)?;
    } else if write {
        print_text(&render::checksum_approved(&report, ctx.verbose))?;
    } else {
        print_text(&render::checksum_table(
            &report,
            crate::printer::get().layout(),
        ))?;
    }
    let bad = report.iter().any(|m| {
        matches!(
            m.verdict,
            Verdict::Mismatch | Verdict::Missing | Verdict::Error
        )
    });
    Ok(if bad {
        exit_codes::INTEGRITY_REFUSED
    } else {
        exit_codes::OK
    })
}
