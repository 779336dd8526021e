//! The Leveranciersportaal's HTML: the frame every page shares and each page's body. Pure: each
//! function turns what a handler gathered into markup (maud escapes every value it inserts).
//!
//! The frame: `lang="nl"`, a skip link to the content, a header with the afnemer's name and
//! OIN, the main menu (with `aria-current` on the page shown), a sign-out form, `<main>`. No
//! script, no inline style (the Content-Security-Policy allows neither): the stylesheet is
//! `/leveranciersportaal/stijl.css`. Tables sit in a focusable, labelled region that scrolls
//! on its own at 320 px, so the page itself never scrolls sideways (WCAG 1.4.10).

use berichtenbox_actors::core::prognose::maandnaam;
use berichtenbox_actors::core::verwerking::{Stadium, VerwerkingsCode};
use berichtenbox_actors::store::{
    AfnemerRecord, AfwijzingRecord, BatchRecord, BatchStatus, BerichttypeRecord,
};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use maud::{DOCTYPE, Markup, html};

use super::PAD;
use super::grafiek::{Reeks, getal, staafdiagram};

/// The pages of the main menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    Overzicht,
    Batches,
    Afwijzingen,
    Berichttypen,
}

impl Menu {
    const ALL: [Self; 4] = [
        Self::Overzicht,
        Self::Batches,
        Self::Afwijzingen,
        Self::Berichttypen,
    ];

    fn pad(self) -> String {
        match self {
            Self::Overzicht => PAD.to_owned(),
            Self::Batches => format!("{PAD}/batches"),
            Self::Afwijzingen => format!("{PAD}/afwijzingen"),
            Self::Berichttypen => format!("{PAD}/berichttypen"),
        }
    }

    fn naam(self) -> &'static str {
        match self {
            Self::Overzicht => "Overzicht",
            Self::Batches => "Batches",
            Self::Afwijzingen => "Afwijzingen",
            Self::Berichttypen => "Berichttypen",
        }
    }
}

/// Who the page is for: the signed-in afnemer and the CSRF token of its forms.
#[derive(Debug, Clone, Copy)]
pub struct Kop<'a> {
    pub afnemer: &'a AfnemerRecord,
    pub csrf: &'a str,
    pub menu: Option<Menu>,
}

/// A whole page: `titel` is the `<h1>` and leads the `<title>`.
pub fn pagina(titel: &str, kop: Option<Kop<'_>>, inhoud: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="nl" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (titel) " – Leveranciersportaal Berichtenbox" }
                link rel="stylesheet" href=(format!("{PAD}/stijl.css"));
            }
            body {
                a class="overslaan" href="#inhoud" { "Direct naar de inhoud" }
                header class="kop" {
                    div class="kop-binnen" {
                        p class="dienst" { "Berichtenbox " span { "Leveranciersportaal" } }
                        @if let Some(kop) = kop {
                            p id="afnemer" class="afnemer" {
                                (kop.afnemer.naam) " " span class="oin" { "(OIN " (kop.afnemer.oin) ")" }
                            }
                        }
                    }
                    @if let Some(kop) = kop {
                        nav class="menu" aria-label="Hoofdmenu" {
                            ul {
                                @for item in Menu::ALL {
                                    li {
                                        @if kop.menu == Some(item) {
                                            a href=(item.pad()) aria-current="page" { (item.naam()) }
                                        } @else {
                                            a href=(item.pad()) { (item.naam()) }
                                        }
                                    }
                                }
                            }
                            form id="uitloggen" method="post" action=(format!("{PAD}/uitloggen")) {
                                input type="hidden" name="csrf" value=(kop.csrf);
                                button type="submit" { "Uitloggen" }
                            }
                        }
                    }
                }
                main id="inhoud" tabindex="-1" {
                    h1 { (titel) }
                    (inhoud)
                }
                footer class="voet" {
                    p { "Berichtenbox van MijnOverheid. Vragen over dit portaal? Neem contact op met het beheer van de Berichtenbox." }
                }
            }
        }
    }
}

/// A message above a page's content: `fout` for what went wrong (announced), else a notice.
pub fn melding(tekst: &str, fout: bool) -> Markup {
    html! {
        @if fout {
            div class="melding fout" role="alert" { p { (tekst) } }
        } @else {
            div class="melding" role="status" { p { (tekst) } }
        }
    }
}

/// The sign-in page: the form for an API key (unless keys are switched off), and the word on
/// certificates.
pub fn inloggen(csrf: &str, sleutels: bool, bericht: Option<&str>) -> Markup {
    let inhoud = html! {
        @if let Some(bericht) = bericht { (melding(bericht, true)) }
        p { "Hier ziet u wat uw organisatie bij de Berichtenbox heeft aangeleverd: de aantallen per dag, uw batches met hun verwerkingsberichten, de afgewezen berichten met de reden, en uw berichttypen." }
        @if sleutels {
            form id="inloggen" class="formulier" method="post" action=(format!("{PAD}/inloggen")) {
                input type="hidden" name="csrf" value=(csrf);
                div class="veld" {
                    label for="sleutel" { "API-sleutel" }
                    p id="sleutel-uitleg" class="uitleg" { "De sleutel die de beheerder van de Berichtenbox voor uw organisatie heeft uitgegeven." }
                    input id="sleutel" name="sleutel" type="password" autocomplete="off" required
                        aria-describedby="sleutel-uitleg";
                }
                button type="submit" { "Inloggen" }
            }
            p { "Heeft uw organisatie een PKIoverheid-certificaat met uw OIN? Dan bent u met dat certificaat direct aangemeld." }
        } @else {
            p { "Aanmelden kan alleen met het PKIoverheid-certificaat van uw organisatie. Uw browser heeft geen certificaat met een bekend OIN aangeboden." }
        }
    };
    pagina("Inloggen", None, inhoud)
}

/// The overview's figures, gathered by the handler.
#[derive(Debug, Clone)]
pub struct Overzicht {
    pub vandaag: Date,
    /// The last 30 days, oldest first, today last: (day, aangeboden, verwerkt, afgewezen).
    pub dagen: Vec<(Date, [u64; 3])>,
    /// This month and the months after it that have a prognose: (month as `YYYY-MM`, label,
    /// forecast, aangeboden so far: this month only).
    pub maanden: Vec<(String, String, Option<u64>, Option<u64>)>,
    /// This month: aangeboden so far, projected at its end, deviation from the forecast.
    pub deze_maand: u64,
    pub verwacht: Option<u64>,
    pub afwijking: Option<f64>,
    pub berichten_per_seconde: u32,
    pub burst: u32,
}

pub fn overzicht(o: &Overzicht) -> Markup {
    let vandaag = o.dagen.last().map(|(_, t)| *t).unwrap_or_default();
    let labels: Vec<String> = o.dagen.iter().map(|(d, _)| kort(*d)).collect();
    let totaal = |i: usize| o.dagen.iter().map(|(_, t)| t[i]).sum::<u64>();
    let reeksen = [
        Reeks {
            naam: "Aangeboden",
            klasse: "aangeboden",
            waarden: o.dagen.iter().map(|(_, t)| t[0]).collect(),
        },
        Reeks {
            naam: "Verwerkt",
            klasse: "verwerkt",
            waarden: o.dagen.iter().map(|(_, t)| t[1]).collect(),
        },
        Reeks {
            naam: "Afgewezen",
            klasse: "afgewezen",
            waarden: o.dagen.iter().map(|(_, t)| t[2]).collect(),
        },
    ];
    let drukste = o.dagen.iter().max_by_key(|(_, t)| t[0]);
    let beschrijving = format!(
        "Over de afgelopen 30 dagen {} aangeboden, {} verwerkt en {} afgewezen{}.",
        getal(totaal(0)),
        getal(totaal(1)),
        getal(totaal(2)),
        match drukste {
            Some((dag, t)) if t[0] > 0 => format!(
                "; de drukste dag was {} met {} aangeboden",
                lang(*dag),
                getal(t[0])
            ),
            _ => String::new(),
        }
    );
    let maand_labels: Vec<String> = o.maanden.iter().map(|m| m.1.clone()).collect();
    let prognose_reeksen = [
        Reeks {
            naam: "Prognose",
            klasse: "prognose",
            waarden: o.maanden.iter().map(|m| m.2.unwrap_or(0)).collect(),
        },
        Reeks {
            naam: "Aangeboden",
            klasse: "aangeboden",
            waarden: o.maanden.iter().map(|m| m.3.unwrap_or(0)).collect(),
        },
    ];
    let prognose_tekst = prognose_zin(o);
    html! {
        section aria-labelledby="kop-vandaag" {
            h2 id="kop-vandaag" { "Vandaag, " (lang(o.vandaag)) }
            dl class="cijfers" {
                div { dt { "Aangeboden" } dd id="vandaag-aangeboden" { (getal(vandaag[0])) } }
                div { dt { "Verwerkt" } dd id="vandaag-verwerkt" { (getal(vandaag[1])) } }
                div { dt { "Afgewezen" } dd id="vandaag-afgewezen" { (getal(vandaag[2])) } }
            }
            p class="uitleg" { "Aangeboden: berichten die de Berichtenbox vandaag heeft aangenomen. Verwerkt en afgewezen: berichten waarover vandaag is beslist." }
        }
        section aria-labelledby="kop-dagen" {
            h2 id="kop-dagen" { "De afgelopen 30 dagen" }
            figure {
                (staafdiagram("grafiek-dagen", "Berichten per dag, de afgelopen 30 dagen", &beschrijving, &labels, &reeksen))
                figcaption { (beschrijving) }
            }
            details {
                summary { "De cijfers per dag als tabel" }
                (tabel("Berichten per dag", "tabel-dagen", html! {
                    thead { tr { th scope="col" { "Dag" } th scope="col" { "Aangeboden" } th scope="col" { "Verwerkt" } th scope="col" { "Afgewezen" } } }
                    tbody {
                        @for (dag, t) in o.dagen.iter().rev() {
                            tr { th scope="row" { (lang(*dag)) } td { (getal(t[0])) } td { (getal(t[1])) } td { (getal(t[2])) } }
                        }
                    }
                }))
            }
        }
        section aria-labelledby="kop-prognose" {
            h2 id="kop-prognose" { "Prognose en werkelijkheid" }
            p id="prognose-tekst" { (prognose_tekst) }
            @if o.maanden.iter().any(|m| m.2.is_some()) {
                figure {
                    (staafdiagram("grafiek-prognose", "Prognose en aangeboden berichten per maand", &prognose_tekst, &maand_labels, &prognose_reeksen))
                    figcaption { "Per maand de prognose, en voor deze maand wat tot nu toe is aangeboden." }
                }
            }
            (tabel("Prognose per maand", "tabel-prognose", html! {
                thead { tr { th scope="col" { "Maand" } th scope="col" { "Prognose" } th scope="col" { "Aangeboden" } } }
                tbody {
                    @for (_, label, prognose, aangeboden) in &o.maanden {
                        tr {
                            th scope="row" { (label) }
                            td { @if let Some(p) = prognose { (getal(*p)) } @else { "geen prognose" } }
                            td { @if let Some(a) = aangeboden { (getal(*a)) } @else { "–" } }
                        }
                    }
                }
            }))
            p { "Een prognose geeft u door met " code { "PUT /v1/prognoses/{maand}" } ", tot 18 maanden vooruit. Een afwijking van 10% is toegestaan." }
        }
        section aria-labelledby="kop-snelheid" {
            h2 id="kop-snelheid" { "Afleversnelheid" }
            p id="snelheid" {
                "U kunt " strong { (getal(u64::from(o.berichten_per_seconde))) " berichten per seconde" }
                " aanleveren, met pieken tot " strong { (getal(u64::from(o.burst))) " berichten" } " tegelijk. Wat daarboven komt, krijgt antwoord 429 met Retry-After."
            }
        }
    }
}

fn prognose_zin(o: &Overzicht) -> String {
    let mut zin = format!(
        "Deze maand zijn tot nu toe {} berichten aangeboden.",
        getal(o.deze_maand)
    );
    match (o.verwacht, o.afwijking, o.maanden.first().and_then(|m| m.2)) {
        (Some(verwacht), Some(afwijking), Some(prognose)) => {
            let procent = (afwijking * 100.0).round();
            let richting = if procent >= 0.0 { "boven" } else { "onder" };
            zin.push_str(&format!(
                " In dit tempo worden het er {} aan het eind van de maand: {}% {} de prognose van {}{}.",
                getal(verwacht),
                procent.abs(),
                richting,
                getal(prognose),
                if procent.abs() > 10.0 {
                    ", meer dan de toegestane 10%"
                } else {
                    ", binnen de toegestane 10%"
                }
            ));
        }
        (_, _, None) => zin.push_str(" Voor deze maand is geen prognose doorgegeven."),
        _ => {}
    }
    zin
}

/// A table in its own scrolling region, captioned.
pub fn tabel(bijschrift: &str, id: &str, rijen: Markup) -> Markup {
    html! {
        div class="tabel" role="region" aria-label=(bijschrift) tabindex="0" {
            table id=(id) {
                caption { (bijschrift) }
                (rijen)
            }
        }
    }
}

/// A batch's row figures: berichten, verwerkt, afgewezen.
fn uitkomsten(batch: &BatchRecord) -> (u64, u64) {
    let berichten = batch.receipt.iter().flat_map(|r| &r.berichten);
    let verwerkt = berichten
        .clone()
        .filter(|b| b.code == VerwerkingsCode::Verwerkt)
        .count() as u64;
    (verwerkt, berichten.count() as u64 - verwerkt)
}

pub fn status(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Geparkeerd => "Ontvangen, wacht op verwerking",
        BatchStatus::InVerwerking => "In verwerking",
        BatchStatus::Verwerkt => "Verwerkt",
    }
}

/// The batches page: the search form, a page of recent batches, the link to older ones.
pub fn batches(
    zone: &TimeZone,
    rijen: &[BatchRecord],
    ouder: Option<String>,
    bericht: Option<(&str, bool)>,
) -> Markup {
    html! {
        @if let Some((tekst, fout)) = bericht { (melding(tekst, fout)) }
        form id="zoek-batch" class="formulier zoeken" method="get" action=(format!("{PAD}/batches")) role="search" {
            div class="veld" {
                label for="batchId" { "Zoek een batch op batchId" }
                input id="batchId" name="batchId" type="text" inputmode="text" autocomplete="off"
                    spellcheck="false" size="36" maxlength="36";
            }
            button type="submit" { "Zoeken" }
        }
        h2 { "Recent verwerkte batches" }
        @if rijen.is_empty() {
            p { "Er zijn geen verwerkte batches van de afgelopen dagen." }
        } @else {
            (tabel("Recent verwerkte batches, nieuwste eerst", "batches", html! {
                thead { tr {
                    th scope="col" { "Batch" } th scope="col" { "Ontvangen" } th scope="col" { "Verwerkt op" }
                    th scope="col" { "Berichten" } th scope="col" { "Verwerkt" } th scope="col" { "Afgewezen" }
                } }
                tbody {
                    @for batch in rijen {
                        @let (verwerkt, afgewezen) = uitkomsten(batch);
                        tr data-batch-id=(batch.batch_id) {
                            th scope="row" { a href=(format!("{PAD}/batches/{}", batch.batch_id)) { code { (batch.batch_id) } } }
                            td { (tijd(batch.ontvangen_op, zone)) }
                            td { @if let Some(r) = &batch.receipt { (tijd(r.verwerkt_op, zone)) } }
                            td { (getal(u64::from(batch.aantal_berichten))) }
                            td { (getal(verwerkt)) }
                            td { (getal(afgewezen)) }
                        }
                    }
                }
            }))
        }
        @if let Some(ouder) = ouder {
            p { a id="oudere-batches" href=(format!("{PAD}/batches?voor={ouder}")) { "Oudere batches" } }
        }
    }
}

/// One batch: its status and, once processed, its verwerkingsbericht.
pub fn batch(zone: &TimeZone, batch: &BatchRecord) -> Markup {
    let (verwerkt, afgewezen) = uitkomsten(batch);
    html! {
        dl class="gegevens" {
            div { dt { "BatchId" } dd { code { (batch.batch_id) } } }
            div { dt { "Status" } dd id="batch-status" { (status(batch.status)) } }
            div { dt { "Ontvangen" } dd { (tijd(batch.ontvangen_op, zone)) } }
            div { dt { "Berichten" } dd { (getal(u64::from(batch.aantal_berichten))) } }
            @if let Some(receipt) = &batch.receipt {
                div { dt { "Verwerkt op" } dd { (tijd(receipt.verwerkt_op, zone)) } }
                div { dt { "Verwerkt" } dd { (getal(verwerkt)) } }
                div { dt { "Afgewezen" } dd { (getal(afgewezen)) } }
            }
        }
        @if let Some(receipt) = &batch.receipt {
            h2 { "Verwerkingsbericht" }
            (tabel("De uitkomst per bericht", "verwerkingsbericht", html! {
                thead { tr { th scope="col" { "BerichtId" } th scope="col" { "Uitkomst" } th scope="col" { "Stadium" } } }
                tbody {
                    @for uitkomst in &receipt.berichten {
                        tr data-bericht-id=(uitkomst.bericht_id) {
                            th scope="row" { code { (uitkomst.bericht_id) } }
                            td { (code(uitkomst.code)) }
                            td { (stadium(uitkomst.stadium)) }
                        }
                    }
                }
            }))
        } @else {
            p { "Deze batch is nog niet verwerkt. Het verwerkingsbericht verschijnt hier zodra elk bericht is beoordeeld." }
        }
        p { a href=(format!("{PAD}/batches")) { "Terug naar de batches" } }
    }
}

/// The afwijzingen page's filter and what it shows.
#[derive(Debug, Clone)]
pub struct AfwijzingenWeergave<'a> {
    pub dagen: &'a [Date],
    pub dag: Option<Date>,
    pub code: Option<VerwerkingsCode>,
    pub rijen: &'a [AfwijzingRecord],
    /// The query string of the next page, when there is one.
    pub volgende: Option<String>,
    /// The query string of the CSV download (the same filter).
    pub csv: String,
}

/// Every verwerkingsCode that is an afwijzing, in the order the filter offers them.
pub const AFWIJZINGSCODES: [VerwerkingsCode; 6] = [
    VerwerkingsCode::NietActiefOfGeabonneerd,
    VerwerkingsCode::BerichtTypeNietOndersteund,
    VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden,
    VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst,
    VerwerkingsCode::BerichtBestaatAl,
    VerwerkingsCode::TechnischProbleem,
];

pub fn afwijzingen(zone: &TimeZone, w: &AfwijzingenWeergave<'_>) -> Markup {
    html! {
        p { "Berichten die niet in een Berichtenbox zijn bezorgd, met de reden. U ziet ze zolang hun verwerkingsbericht wordt bewaard. Verbeter wat nodig is en lever het bericht opnieuw aan met een nieuw berichtId." }
        form id="filter" class="formulier filter" method="get" action=(format!("{PAD}/afwijzingen")) {
            div class="veld" {
                label for="dag" { "Dag" }
                select id="dag" name="dag" {
                    option value="" selected[w.dag.is_none()] { "Alle dagen" }
                    @for dag in w.dagen {
                        option value=(dag.to_string()) selected[w.dag == Some(*dag)] { (lang(*dag)) }
                    }
                }
            }
            div class="veld" {
                label for="code" { "Reden" }
                select id="code" name="code" {
                    option value="" selected[w.code.is_none()] { "Alle redenen" }
                    @for c in AFWIJZINGSCODES {
                        option value=(c.as_str()) selected[w.code == Some(c)] { (c.as_str()) }
                    }
                }
            }
            button type="submit" { "Filteren" }
        }
        p { a id="download-csv" href=(format!("{PAD}/afwijzingen.csv{}", w.csv)) download { "Download deze afwijzingen als CSV" } }
        @if w.rijen.is_empty() {
            p id="geen-afwijzingen" { "Er zijn geen afgewezen berichten die bij dit filter passen." }
        } @else {
            (tabel("Afgewezen berichten", "afwijzingen", html! {
                thead { tr {
                    th scope="col" { "BerichtId" } th scope="col" { "Reden" } th scope="col" { "Stadium" }
                    th scope="col" { "Batch" } th scope="col" { "Verwerkt op" }
                } }
                tbody {
                    @for rij in w.rijen {
                        tr data-bericht-id=(rij.bericht_id) data-code=(rij.code.as_str()) {
                            th scope="row" { code { (rij.bericht_id) } }
                            td { (code(rij.code)) }
                            td { (stadium(rij.stadium)) }
                            td { a href=(format!("{PAD}/batches/{}", rij.batch_id)) { code { (rij.batch_id) } } }
                            td { (tijd(rij.verwerkt_op, zone)) }
                        }
                    }
                }
            }))
        }
        @if let Some(volgende) = &w.volgende {
            p { a id="volgende-afwijzingen" href=(format!("{PAD}/afwijzingen{volgende}")) { "Volgende afwijzingen" } }
        }
    }
}

pub fn berichttypen(typen: &[BerichttypeRecord]) -> Markup {
    html! {
        p { "De berichttypen die u bij de Berichtenbox hebt vastgelegd. Een bericht van een berichttype dat niet bekend of niet actief is, wordt afgewezen met BerichtTypeNietOndersteund. U legt ze vast met " code { "PUT /v1/berichttypen/{code}" } "." }
        @if typen.is_empty() {
            p { "U hebt nog geen berichttypen vastgelegd." }
        } @else {
            (tabel("Uw berichttypen", "berichttypen", html! {
                thead { tr { th scope="col" { "Code" } th scope="col" { "Omschrijving" } th scope="col" { "Actief" } } }
                tbody {
                    @for t in typen {
                        tr { th scope="row" { code { (t.code) } } td { (t.omschrijving) } td { @if t.actief { "Ja" } @else { "Nee" } } }
                    }
                }
            }))
        }
    }
}

/// A code with its meaning in words.
fn code(code: VerwerkingsCode) -> Markup {
    let uitleg = match code {
        VerwerkingsCode::Verwerkt => "bezorgd in de Berichtenbox",
        VerwerkingsCode::NietActiefOfGeabonneerd => {
            "de ontvanger heeft geen actieve Berichtenbox, of wil van u geen digitale post"
        }
        VerwerkingsCode::BerichtTypeNietOndersteund => {
            "het berichttype is niet bekend of niet actief"
        }
        VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden => {
            "de aanmaakdatum ligt meer dan 13 dagen in het verleden"
        }
        VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst => {
            "de publicatiedatum ligt meer dan 13 dagen in de toekomst"
        }
        VerwerkingsCode::BerichtBestaatAl => {
            "een bericht met dit berichtId is al eerder aangeleverd"
        }
        VerwerkingsCode::TechnischProbleem => {
            "een technisch probleem; lever het bericht opnieuw aan"
        }
    };
    html! { (code.as_str()) span class="uitleg-code" { ": " (uitleg) } }
}

fn stadium(stadium: Stadium) -> &'static str {
    stadium.as_str()
}

/// `7 december 2026`.
pub fn lang(dag: Date) -> String {
    format!("{} {} {}", dag.day(), maandnaam(dag.month()), dag.year())
}

/// `7 dec`: a chart's label.
pub fn kort(dag: Date) -> String {
    let naam = maandnaam(dag.month());
    format!("{} {}", dag.day(), naam.get(..3).unwrap_or(naam))
}

/// `december 2026`.
pub fn maand(eerste: Date) -> String {
    format!("{} {}", maandnaam(eerste.month()), eerste.year())
}

/// `7-12-2026 14:03:22`, on the Amsterdam clock.
pub fn tijd(at: jiff::Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%-d-%-m-%Y %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_in_dutch() {
        let dag = Date::new(2026, 12, 7).expect("date");
        assert_eq!(lang(dag), "7 december 2026");
        assert_eq!(kort(dag), "7 dec");
        assert_eq!(maand(dag.first_of_month()), "december 2026");
        let zone = berichtenbox_actors::core::caps::amsterdam().expect("zone");
        let at: jiff::Timestamp = "2026-07-01T12:00:05Z".parse().expect("ts");
        assert_eq!(tijd(at, &zone), "1-7-2026 14:00:05");
    }

    #[test]
    fn what_an_afnemer_typed_is_escaped() {
        let afnemer = AfnemerRecord {
            oin: "00000001234567890000".into(),
            naam: "<script>alert(1)</script>".into(),
            berichten_per_seconde: 45,
            burst: 1000,
            webhook_url: None,
            actief: true,
        };
        let html = pagina(
            "Overzicht",
            Some(Kop {
                afnemer: &afnemer,
                csrf: "x\"y",
                menu: Some(Menu::Overzicht),
            }),
            html! {},
        )
        .into_string();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains(r#"value="x&quot;y""#));
        assert!(html.contains(r#"aria-current="page""#));
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"nl\">"));
    }
}
