//! The self-contained HTML report: per flow, an inline SVG sequence diagram of who sent what to
//! whom (no script, no network access needed), each step's status, and every payload one click
//! away in a `<details>` element.

use super::{FlowReport, StepOutcome};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const LANE_W: usize = 170;
const ROW_H: usize = 34;
const TOP: usize = 50;

fn diagram(r: &FlowReport) -> String {
    // Room on the right for labels that run past the last lane.
    let width = r.lanes.len() * LANE_W + 260;
    let height = TOP + (r.trace.len() + 1) * ROW_H + 10;
    let x = |lane: &str| r.lanes.iter().position(|l| l == lane).unwrap_or(0) * LANE_W + LANE_W / 2 + 10;
    let mut svg = format!(
        "<svg class=\"seq\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"sequence diagram of {}\">",
        esc(&r.name)
    );
    svg.push_str("<defs><marker id=\"a\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#555\"/></marker></defs>");
    for lane in &r.lanes {
        let lx = x(lane);
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"8\" width=\"{}\" height=\"26\" rx=\"4\" class=\"lane\"/><text x=\"{lx}\" y=\"26\" text-anchor=\"middle\" class=\"lanename\">{}</text><line x1=\"{lx}\" y1=\"34\" x2=\"{lx}\" y2=\"{}\" class=\"life\"/>",
            lx - LANE_W / 2 + 8,
            LANE_W - 16,
            esc(lane),
            height - 4
        ));
    }
    for (i, t) in r.trace.iter().enumerate() {
        let y = TOP + (i + 1) * ROW_H;
        let (x1, x2) = (x(&t.from), x(&t.to));
        let class = if t.ok { "ok" } else { "bad" };
        // Labels start just right of the arrow's left end, so long ones run into the page, not
        // off its left edge, and clear the arrowhead.
        svg.push_str(&format!(
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" class=\"msg {class}\" marker-end=\"url(#a)\"/><text x=\"{}\" y=\"{}\" class=\"label {class}\">{}. {}</text>",
            x1.min(x2) + 14,
            y - 6,
            t.step,
            esc(&t.label)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The whole report page.
pub fn html_report(reports: &[FlowReport]) -> String {
    let passed = reports.iter().filter(|r| r.passed()).count();
    let mut body = format!(
        "<h1>Conformance replay</h1><p class=\"summary\">{passed} of {} flows passed</p><nav><ul>",
        reports.len()
    );
    for (i, r) in reports.iter().enumerate() {
        body.push_str(&format!(
            "<li><a href=\"#flow{i}\" class=\"{}\">{} {}</a></li>",
            if r.passed() { "ok" } else { "bad" },
            if r.passed() { "✓" } else { "✗" },
            esc(&r.name)
        ));
    }
    body.push_str("</ul></nav>");
    for (i, r) in reports.iter().enumerate() {
        body.push_str(&format!(
            "<section class=\"flow\" id=\"flow{i}\"><h2 class=\"{}\">{} {}</h2><p class=\"file\">{}</p><p>{}</p>",
            if r.passed() { "ok" } else { "bad" },
            if r.passed() { "PASS" } else { "FAIL" },
            esc(&r.name),
            esc(&r.file),
            esc(&r.description)
        ));
        if let Some(e) = &r.setup_error {
            body.push_str(&format!("<p class=\"bad\">Set-up failed: {}</p>", esc(e)));
        }
        body.push_str(&format!(
            "<div class=\"diagram\">{}</div><ol class=\"steps\">",
            diagram(r)
        ));
        for s in &r.steps {
            let (class, mark, detail) = match &s.outcome {
                StepOutcome::Passed => ("ok", "✓", String::new()),
                StepOutcome::Failed(d) => (
                    "bad",
                    "✗",
                    format!("<pre class=\"diff\">{}</pre>", esc(&d.replace("; ", "\n"))),
                ),
                StepOutcome::Skipped => ("skip", "–", String::new()),
            };
            body.push_str(&format!(
                "<li class=\"{class}\"><span class=\"mark\">{mark}</span> {} <span class=\"ms\">{} ms</span>{detail}",
                esc(&s.name),
                s.elapsed.as_millis()
            ));
            for t in r.trace.iter().filter(|t| t.step == s.index) {
                body.push_str(&format!(
                    "<details><summary>{} → {}: {}</summary><pre>{}</pre></details>",
                    esc(&t.from),
                    esc(&t.to),
                    esc(&t.label),
                    esc(&t.payload)
                ));
            }
            body.push_str("</li>");
        }
        body.push_str("</ol></section>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Conformance replay</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{margin:0 0 4px}\
.summary{font-size:16px}.ok{color:#17803d}.bad{color:#c62828}.skip{color:#888}\
nav ul{columns:2;padding-left:18px}section.flow{border-top:1px solid #ddd;margin-top:24px;padding-top:8px}\
.file{color:#666;font-family:monospace}.diagram{overflow-x:auto;background:#fafafa;border:1px solid #eee;padding:4px}\
svg.seq .lane{fill:#e8eef8;stroke:#8aa4d0}svg.seq .lanename{font:600 12px system-ui}\
svg.seq .life{stroke:#bbb;stroke-dasharray:4 3}svg.seq .msg{stroke-width:1.6}svg.seq .msg.ok{stroke:#17803d}\
svg.seq .msg.bad{stroke:#c62828;stroke-width:2.4}svg.seq .label{font:11px monospace}svg.seq .label.ok{fill:#1b4d2b}\
svg.seq .label.bad{fill:#c62828;font-weight:700}ol.steps li{margin:4px 0}.mark{font-weight:700}.ms{color:#999;font-size:12px}\
pre{background:#f4f4f4;padding:8px;overflow-x:auto;max-height:420px}pre.diff{background:#fdecec;color:#8a1c1c}\
details summary{cursor:pointer;color:#345}";
