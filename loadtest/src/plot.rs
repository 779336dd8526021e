//! PNG plots of the timeline: throughput (offered, achieved and throttled berichten per
//! second) and latency percentiles over time (accept latency; portal reads when there were
//! any).
//!
//! plotters draws text with `ab_glyph`, which needs a TrueType font file at run time; it
//! is looked for in `BERICHTENBOX_LOADTEST_FONT` and then where Debian's `fonts-dejavu-core`
//! (and a few other distributions' packages) put DejaVu Sans or Liberation Sans. Without
//! one the plots are still drawn, without axis labels or legend, and the report says so.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::TimelinePoint;

/// Where a sans-serif TrueType font is commonly installed.
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

const FONT: &str = "sans-serif";
/// The x axis of the timeline's plots.
const SECONDS: &str = "seconds since the start of the load";

/// Registers a font once per process; answers the file used, or `None`.
pub fn font() -> Option<&'static str> {
    static FONT_FILE: OnceLock<Option<String>> = OnceLock::new();
    FONT_FILE
        .get_or_init(|| {
            let from_env = std::env::var("BERICHTENBOX_LOADTEST_FONT").ok();
            let candidates = from_env
                .iter()
                .map(String::as_str)
                .chain(FONT_CANDIDATES.iter().copied());
            for path in candidates {
                let Ok(bytes) = std::fs::read(path) else {
                    continue;
                };
                // plotters keeps registered fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                    return Some(path.to_owned());
                }
            }
            None
        })
        .as_deref()
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// A series to draw: its name, colour and points.
struct Series {
    name: &'static str,
    color: RGBColor,
    width: u32,
    points: Vec<(f64, f64)>,
}

fn line_chart(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[Series],
    log_y: bool,
) -> anyhow::Result<()> {
    let with_text = font().is_some();
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if with_text {
        builder
            .caption(title, (FONT, 24))
            .x_label_area_size(45)
            .y_label_area_size(80);
    }

    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            if with_text {
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc(y_desc)
                    .label_style((FONT, 14))
                    .draw()
                    .map_err(err)?;
            }
            for s in series {
                let (color, width) = (s.color, s.width);
                let drawn = chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(width),
                    ))
                    .map_err(err)?;
                if with_text {
                    drawn.label(s.name).legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 20, y)],
                            color.stroke_width(width.max(2)),
                        )
                    });
                }
            }
            if with_text {
                chart
                    .configure_series_labels()
                    .label_font((FONT, 14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(err)?;
            }
        }};
    }

    if log_y {
        let y_min = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|v| *v > 0.0)
            .fold(f64::MAX, f64::min)
            .min(y_max)
            .max(0.01);
        let range = (y_min * 0.8)..(y_max.max(y_min * 10.0) * 1.25);
        draw!(
            builder
                .build_cartesian_2d(0f64..x_max, range.log_scale())
                .map_err(err)?
        );
    } else {
        draw!(
            builder
                .build_cartesian_2d(0f64..x_max, 0f64..(y_max * 1.1).max(1.0))
                .map_err(err)?
        );
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A latency's p50, p99 and p99.9 at one second.
type Percentiles = (Option<f64>, Option<f64>, Option<f64>);

/// The p50, p99 and p99.9 lines of one latency, in the colours every plot uses for them.
fn percentile_series(
    timeline: &[TimelinePoint],
    percentiles: impl Fn(&TimelinePoint) -> Percentiles,
) -> [Series; 3] {
    let line = |name, color, pick: fn(Percentiles) -> Option<f64>| Series {
        name,
        color,
        width: 2,
        points: points(timeline, |p| pick(percentiles(p))),
    };
    [
        line("p50", RGBColor(44, 160, 44), |(p50, _, _)| p50),
        line("p99", RGBColor(255, 127, 14), |(_, p99, _)| p99),
        line("p99.9", RGBColor(214, 39, 40), |(_, _, p999)| p999),
    ]
}

fn points(
    timeline: &[TimelinePoint],
    f: impl Fn(&TimelinePoint) -> Option<f64>,
) -> Vec<(f64, f64)> {
    timeline
        .iter()
        .filter_map(|p| f(p).map(|v| (p.second as f64, v)))
        .collect()
}

/// Writes the plots into `dir`; answers the file names written.
pub fn write(dir: &Path, timeline: &[TimelinePoint]) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    // Offered last and thin, so it shows on top of achieved where they are equal.
    let throughput = [
        Series {
            name: "achieved (202)",
            color: RGBColor(44, 160, 44),
            width: 3,
            points: points(timeline, |p| Some(p.accepted_msgs as f64)),
        },
        Series {
            name: "throttled (429)",
            color: RGBColor(214, 39, 40),
            width: 2,
            points: points(timeline, |p| Some(p.throttled_msgs as f64)),
        },
        Series {
            name: "offered",
            color: RGBColor(31, 119, 180),
            width: 1,
            points: points(timeline, |p| Some(p.offered_msgs as f64)),
        },
    ];
    line_chart(
        &dir.join("throughput.png"),
        "Berichten per second",
        (SECONDS, "berichten per second"),
        &throughput,
        false,
    )?;
    written.push("throughput.png".to_owned());

    let latency = percentile_series(timeline, |p| {
        (p.accept_p50_ms, p.accept_p99_ms, p.accept_p999_ms)
    });
    line_chart(
        &dir.join("latency.png"),
        "Accept latency (202) per second, from the scheduled send",
        (SECONDS, "milliseconds (log scale)"),
        &latency,
        true,
    )?;
    written.push("latency.png".to_owned());

    if timeline.iter().any(|p| p.portal_p50_ms.is_some()) {
        let portal = percentile_series(timeline, |p| {
            (p.portal_p50_ms, p.portal_p99_ms, p.portal_p999_ms)
        });
        line_chart(
            &dir.join("portal_latency.png"),
            "Portal reads (GET /v1/account/berichten) latency per second",
            (SECONDS, "milliseconds (log scale)"),
            &portal,
            true,
        )?;
        written.push("portal_latency.png".to_owned());
    }
    Ok(written)
}

/// A soak's plot (`bench/examples/soak.rs`): the data directory's size after each simulated
/// day, in GB, one line per measurement point, into `path`.
pub fn sizes_per_day(path: &Path, lines: &[(&'static str, Vec<(f64, f64)>)]) -> anyhow::Result<()> {
    const COLORS: [RGBColor; 3] = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
    ];
    let series: Vec<Series> = lines
        .iter()
        .zip(COLORS.iter().cycle())
        .map(|((name, points), color)| Series {
            name,
            color: *color,
            width: 2,
            points: points.clone(),
        })
        .collect();
    line_chart(
        path,
        "Data directory size per simulated day",
        ("simulated day", "GB"),
        &series,
        false,
    )
}
