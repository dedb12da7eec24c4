//! The text report the `replay` subcommand prints: a PASS/FAIL line per flow, one line per step
//! (`✓`, `✗` with every difference, `-` when skipped), and `replay: N passed, M failed`.

use super::{FlowReport, StepOutcome};

/// One line per step and a closing summary, as the `replay` subcommand prints them.
pub fn text_report(reports: &[FlowReport]) -> String {
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    for r in reports {
        out.push_str(&format!(
            "{} {} ({})\n",
            if r.passed() { "PASS" } else { "FAIL" },
            r.name,
            r.file
        ));
        if let Some(e) = &r.setup_error {
            out.push_str(&format!("  ✗ set-up: {e}\n"));
        }
        for s in &r.steps {
            match &s.outcome {
                StepOutcome::Passed => out.push_str(&format!(
                    "  ✓ {:>2} {} ({} ms)\n",
                    s.index,
                    s.name,
                    s.elapsed.as_millis()
                )),
                StepOutcome::Failed(d) => {
                    out.push_str(&format!(
                        "  ✗ {:>2} {} ({} ms)\n",
                        s.index,
                        s.name,
                        s.elapsed.as_millis()
                    ));
                    for line in d.split("; ") {
                        out.push_str(&format!("       {line}\n"));
                    }
                }
                StepOutcome::Skipped => out.push_str(&format!("  - {:>2} {} (skipped)\n", s.index, s.name)),
            }
        }
        if r.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    out.push_str(&format!("replay: {passed} passed, {failed} failed\n"));
    out
}
