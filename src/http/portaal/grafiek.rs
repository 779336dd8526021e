//! Charts drawn on the server as SVG: no script, and each with its text alternative. An SVG is
//! an image to assistive technology (`role="img"`), named by its `<title>` and described by its
//! `<desc>` (the figures in a sentence); the page puts the full figures in a table beside it.
//! Colours come from the stylesheet by class, each at least 3:1 against the background
//! (WCAG 1.4.11), and the series are also told apart by the legend's words.

use maud::{Markup, html};

/// One series of a bar chart: its name (the legend's word), its CSS class, a value per label.
#[derive(Debug, Clone)]
pub struct Reeks<'a> {
    pub naam: &'a str,
    pub klasse: &'a str,
    pub waarden: Vec<u64>,
}

const BREEDTE: f64 = 720.0;
const HOOGTE: f64 = 260.0;
const LINKS: f64 = 64.0;
const ONDER: f64 = 36.0;
const BOVEN: f64 = 12.0;
const RECHTS: f64 = 8.0;
/// At most this many labels under the x axis; the others are left out (the table has them).
const MAX_LABELS: usize = 8;

/// A grouped bar chart: a group of bars per label, a bar per series. `id` names its title and
/// description for `aria-labelledby`.
pub fn staafdiagram(
    id: &str,
    titel: &str,
    beschrijving: &str,
    labels: &[String],
    reeksen: &[Reeks<'_>],
) -> Markup {
    let grootste = reeksen
        .iter()
        .flat_map(|r| r.waarden.iter().copied())
        .max()
        .unwrap_or(0);
    let (top, stap) = schaal(grootste);
    let plot_breedte = BREEDTE - LINKS - RECHTS;
    let plot_hoogte = HOOGTE - BOVEN - ONDER;
    // At least six groups' room: one or two months do not become bars as wide as the chart.
    let groepen = labels.len().max(6) as f64;
    let groep = plot_breedte / groepen;
    let balk = (groep * 0.8) / reeksen.len().max(1) as f64;
    let y = |waarde: u64| BOVEN + plot_hoogte * (1.0 - waarde as f64 / top as f64);
    let elke = labels.len().div_ceil(MAX_LABELS).max(1);
    let titel_id = format!("{id}-titel");
    let desc_id = format!("{id}-beschrijving");
    html! {
        svg class="grafiek" id=(id) role="img" viewBox=(format!("0 0 {BREEDTE} {HOOGTE}"))
            preserveAspectRatio="xMidYMid meet" aria-labelledby=(format!("{titel_id} {desc_id}"))
            xmlns="http://www.w3.org/2000/svg" {
            title id=(titel_id) { (titel) }
            desc id=(desc_id) { (beschrijving) }
            @for i in 0..=(top / stap) {
                @let waarde = i * stap;
                @let hoogte = y(waarde);
                line class="raster" x1=(LINKS) x2=(BREEDTE - RECHTS) y1=(f(hoogte)) y2=(f(hoogte)) {}
                text class="as" x=(LINKS - 6.0) y=(f(hoogte + 4.0)) text-anchor="end" { (getal(waarde)) }
            }
            @for (g, label) in labels.iter().enumerate() {
                @let x0 = LINKS + groep * g as f64 + groep * 0.1;
                @for (r, reeks) in reeksen.iter().enumerate() {
                    @let waarde = reeks.waarden.get(g).copied().unwrap_or(0);
                    @let boven = y(waarde);
                    rect class=(reeks.klasse) x=(f(x0 + balk * r as f64)) y=(f(boven))
                        width=(f(balk.max(1.0))) height=(f(BOVEN + plot_hoogte - boven)) {}
                }
                @if g % elke == 0 {
                    text class="as" x=(f(LINKS + groep * (g as f64 + 0.5))) y=(f(HOOGTE - ONDER + 18.0))
                        text-anchor="middle" { (label) }
                }
            }
            line class="as-lijn" x1=(LINKS) x2=(BREEDTE - RECHTS) y1=(f(BOVEN + plot_hoogte))
                y2=(f(BOVEN + plot_hoogte)) {}
        }
        ul class="legenda" {
            @for reeks in reeksen {
                li { span class=(format!("staal {}", reeks.klasse)) aria-hidden="true" {} (reeks.naam) }
            }
        }
    }
}

/// The axis' top and step: the largest value rounded up to 1, 2 or 5 times a power of ten, in
/// four or five steps; (4, 1) for an empty chart.
fn schaal(grootste: u64) -> (u64, u64) {
    if grootste == 0 {
        return (4, 1);
    }
    let mut macht = 1u64;
    loop {
        for factor in [1u64, 2, 5] {
            let stap = factor.saturating_mul(macht);
            if stap.saturating_mul(4) >= grootste {
                let stappen = grootste.div_ceil(stap).max(1);
                return (stap.saturating_mul(stappen), stap);
            }
        }
        macht = macht.saturating_mul(10);
    }
}

/// A coordinate, to one decimal.
fn f(value: f64) -> String {
    format!("{value:.1}")
}

/// A count as Dutch writes it: `1.234.567`.
pub fn getal(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_the_dutch_way() {
        assert_eq!(getal(0), "0");
        assert_eq!(getal(999), "999");
        assert_eq!(getal(1000), "1.000");
        assert_eq!(getal(150_000), "150.000");
        assert_eq!(getal(4_500_000), "4.500.000");
    }

    #[test]
    fn the_axis_covers_the_largest_value_in_round_steps() {
        assert_eq!(schaal(0), (4, 1));
        assert_eq!(schaal(3), (3, 1));
        assert_eq!(schaal(7), (8, 2));
        assert_eq!(schaal(150_000), (150_000, 50_000));
        assert_eq!(schaal(151_000), (200_000, 50_000));
        for grootste in [1, 9, 11, 99, 101, 12_345, 987_654_321] {
            let (top, stap) = schaal(grootste);
            assert!(top >= grootste, "{grootste}");
            assert!(top / stap <= 5, "{grootste}: {top}/{stap}");
        }
        // No overflow at the end of the range.
        let (top, _) = schaal(u64::MAX);
        assert!(top > 0);
    }

    #[test]
    fn a_chart_is_a_named_image_with_a_bar_per_value() {
        let labels: Vec<String> = (1..=3).map(|d| format!("{d} dec")).collect();
        let svg = staafdiagram(
            "proef",
            "Berichten per dag",
            "In drie dagen 6 aangeboden.",
            &labels,
            &[Reeks {
                naam: "Aangeboden",
                klasse: "aangeboden",
                waarden: vec![1, 2, 3],
            }],
        )
        .into_string();
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="proef-titel proef-beschrijving""#));
        assert!(svg.contains("<title id=\"proef-titel\">Berichten per dag</title>"));
        assert_eq!(svg.matches("<rect class=\"aangeboden\"").count(), 3);
        assert!(svg.contains("Aangeboden</li>"));
    }
}
