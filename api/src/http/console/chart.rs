//! Bar charts as SVG, rendered on the server: no script, no charting library. Labels
//! go through maud, so they are escaped like every other text.

use maud::{Markup, html};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 180;
const BOTTOM: u32 = 30;
const TOP: u32 = 16;

/// A bar per `(label, value)`, scaled to the largest value; `id` names the chart.
pub fn bars(id: &str, title: &str, bars: &[(String, u64)]) -> Markup {
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let n = u32::try_from(bars.len()).unwrap_or(u32::MAX).max(1);
    let slot = WIDTH / n;
    let bar_width = slot.saturating_sub(4).max(1);
    let plot = HEIGHT - BOTTOM - TOP;
    html! {
        svg id=(id) role="img" aria-label=(title) width=(WIDTH) height=(HEIGHT)
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            line x1="0" y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#8a96a3" {}
            @for (i, (label, value)) in bars.iter().enumerate() {
                @let i = u32::try_from(i).unwrap_or(0);
                @let h = u32::try_from(u64::from(plot) * value / max).unwrap_or(plot);
                @let x = i * slot + 2;
                @let y = HEIGHT - BOTTOM - h;
                rect.bar x=(x) y=(y) width=(bar_width) height=(h) {
                    title { (label) ": " (value) }
                }
                @if *value > 0 {
                    text x=(x) y=(y.saturating_sub(2)) { (value) }
                }
                text x=(x) y=(HEIGHT - BOTTOM + 12) { (label) }
            }
        }
    }
}
