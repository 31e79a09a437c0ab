//! From a perfdata unit to PCP's units and semantics: `s`/`ms`/`us` are
//! time, `B`/`KB`/... space, `c` a counter of events, and no unit, `%` or
//! any other unit a dimensionless instant value (the unit's text is kept
//! as the `uom` label).

use pcp_core::desc::{space, time};
use pcp_core::{Semantics, Units};

use crate::perfdata::Uom;

/// PCP units and semantics for a perfdata unit.
pub fn units_of(uom: Uom<'_>) -> (Units, Semantics) {
    match uom {
        Uom::Seconds => (Units::time(time::SEC), Semantics::Instant),
        Uom::Millis => (Units::time(time::MSEC), Semantics::Instant),
        Uom::Micros => (Units::time(time::USEC), Semantics::Instant),
        Uom::Bytes(s) => (Units::space(s.min(space::EBYTE)), Semantics::Instant),
        Uom::Counter => (Units::COUNT, Semantics::Counter),
        Uom::None | Uom::Percent | Uom::Other(_) => (Units::NONE, Semantics::Instant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_guidelines() {
        assert_eq!(units_of(Uom::from_text("ms")).0.to_string(), "millisec");
        assert_eq!(units_of(Uom::from_text("MB")).0.to_string(), "Mbyte");
        assert_eq!(
            units_of(Uom::from_text("c")),
            (Units::COUNT, Semantics::Counter)
        );
        assert_eq!(units_of(Uom::from_text("%")).0, Units::NONE);
        assert_eq!(units_of(Uom::from_text("dBm")).0, Units::NONE);
    }
}
