//! When scheduled runs fire: `--daily 03:00`, `--weekly mon,thu 03:00`,
//! `--monthly 1,15 03:00` and `--cron "30 3 * * 1-5"`, as a [`Spec`] that can be stored
//! (serde), described to a person, rendered as a systemd `OnCalendar=` value, and asked
//! for its next firing in a time zone.
//!
//! # Wall-clock rules
//!
//! Times are wall-clock times in the time zone given to [`Spec::next_after`].
//!
//! - **Spring forward (gap).** A time that does not exist on a day, such as 02:30 in
//!   `Europe/Berlin` on the last Sunday of March, fires at the first valid instant after
//!   the gap: the moment of the transition (03:00 CEST, 01:00 UTC). Several cron times in
//!   the same gap fire once there.
//! - **Fall back (fold).** A time that occurs twice fires once, at its first occurrence
//!   (02:30 CEST, not 02:30 CET). This holds for cron too: minutes of the repeated hour
//!   do not fire a second time.
//! - **Month ends.** `monthly 31` skips months without a 31st (and `29` skips February
//!   outside leap years); `last` (stored as day `0`) fires on the last day of every month:
//!   the 28th or 29th of February, the 30th or 31st otherwise.
//! - **Cron.** Five fields: minute, hour, day of month, month, day of week. Lists,
//!   ranges and steps (`*/15`, `1-5/2`), names `jan`-`dec` and `sun`-`sat`, and both `0`
//!   and `7` for Sunday. When both day fields are restricted (neither starts with `*`), a
//!   day matching either fires, as in Vixie cron. The search for the next firing looks
//!   at most about nine years ahead (enough for 29 February across a skipped century
//!   leap year) and gives `None` for a date that never comes, such as `0 0 30 2 *`.

pub mod daemon;
pub mod spec;
pub mod store;

pub use spec::*;
