"""schemathesis hooks for scripts/schemathesis.sh: valid data that a JSON schema cannot make.

A batch's and a Validatieservice question's BSNs must pass the elfproef, a batch's
aanmaakDatum must be recent and its berichtIds distinct, a question names a registered
berichttype, a forecast is for this month or one of the 17 after it, a monthly report is
for a month not in the future and a receipt feed's cursor lies inside the 6 days receipts are
kept. A schema states none of these, so nearly every request schemathesis draws from
the document alone is refused with 400 and the engine's paths beyond validation (parking,
idempotency, processing, the answers to a valid question) are never reached. For the cases
schemathesis generates as valid (positive mode), and only those, this hook mends the drawn
values so: each stays valid by the schema, and its other fields stay as drawn. Negative
cases are left alone.
"""

import json
import uuid
from datetime import datetime, timedelta, timezone

import schemathesis

# Registered by scripts/schemathesis/session.py for the afnemer whose key the run uses.
BERICHTTYPE = "AANSLAG"
# A BSN that passes the elfproef, for a drawn one that cannot be mended into one.
FALLBACK_BSN = "111222333"


def elfproef(bsn):
    """The nine digits of `bsn` with the last one (and, if need be, the one before) changed so
    they pass the elfproef: 9*d1 + 8*d2 + ... + 2*d8 - d9 = 0 (mod 11), not all zero."""
    if not (isinstance(bsn, str) and len(bsn) == 9 and bsn.isascii() and bsn.isdigit()):
        return bsn
    digits = [int(c) for c in bsn[:8]]
    for bump in range(10):
        head = digits[:7] + [(digits[7] + bump) % 10]
        total = sum(d * (9 - i) for i, d in enumerate(head))
        check = total % 11
        if check < 10 and total - check != 0:
            return "".join(map(str, head)) + str(check)
    return FALLBACK_BSN


def positive(case):
    return case.meta is not None and case.meta.generation.mode.is_positive


def month(drawn, first, span):
    """A month `first` to `first + span - 1` months from now (UTC), chosen by the drawn value."""
    now = datetime.now(timezone.utc)
    offset = first + sum(map(ord, str(drawn))) % span
    index = now.year * 12 + now.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def recent_cursor(drawn):
    """A feed cursor (36 hex digits: the time its receipt became ready, in nanoseconds, then
    shard and sequence) moved to up to 5 days ago, chosen by the drawn value; the rest kept."""
    if not (isinstance(drawn, str) and len(drawn) == 36):
        return drawn
    now = int(datetime.now(timezone.utc).timestamp() * 1e9)
    ago = sum(map(ord, drawn)) % (5 * 24 * 3600) * 10**9
    return f"{now - ago:016x}" + drawn[16:]


@schemathesis.hook
def map_case(context, case):
    if not positive(case):
        return case
    method = case.method.upper()
    # Months well inside the window, so the Amsterdam clock, an hour or two ahead of UTC,
    # agrees at the turn of a month.
    if method == "PUT" and case.path == "/v1/prognoses/{maand}" and case.path_parameters:
        case.path_parameters["maand"] = month(case.path_parameters.get("maand"), 1, 16)
    if method == "GET" and case.path == "/v1/beheer/rapportages/maandelijks" and case.query:
        if "maand" in case.query:
            case.query["maand"] = month(case.query["maand"], -24, 23)
    if method == "GET" and case.path == "/v1/verwerkingsberichten" and case.query:
        if "na" in case.query:
            case.query["na"] = recent_cursor(case.query["na"])
    if not isinstance(case.body, dict):
        return case
    # The berichttype the questions and batches name stays active: a valid PUT that turned it
    # off would make the next valid question a 400 (not registered and active), which the
    # document cannot foresee.
    if (method == "PUT" and case.path == "/v1/berichttypen/{code}"
            and (case.path_parameters or {}).get("code") == BERICHTTYPE):
        case.body["actief"] = True
    if case.method.upper() == "POST" and case.path == "/v1/batches":
        case.body["aanmaakDatum"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        seen = set()
        for bericht in case.body.get("berichten") or []:
            if not isinstance(bericht, dict):
                continue
            bericht["ontvanger"] = elfproef(bericht.get("ontvanger"))
            bericht_id = str(bericht.get("berichtId", "")).lower()
            if bericht_id in seen:
                bericht["berichtId"] = str(uuid.uuid4())
            seen.add(str(bericht.get("berichtId", "")).lower())
        # Drawn batchIds repeat (the all-zero GUID above all), so most valid batches would be
        # a conflict (409) with an earlier one. Half of them (by the drawn id's last digit)
        # keep it, for the redelivery paths (200, 409); the others get an id made from their
        # content, so different batches are parked (202) and an equal one is a redelivery.
        drawn = str(case.body.get("batchId", ""))
        if drawn[-1:] in set("13579bdfBDF"):
            content = json.dumps({k: v for k, v in case.body.items() if k != "batchId"},
                                 sort_keys=True, default=str)
            case.body["batchId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, content))
    elif case.method.upper() == "POST" and case.path == "/v1/validaties":
        case.body["berichtType"] = BERICHTTYPE
        bsns = case.body.get("bsns")
        if isinstance(bsns, list):
            case.body["bsns"] = [elfproef(bsn) for bsn in bsns]
    elif case.method.upper() == "POST" and case.path == "/v1/abonnementsverzoeken":
        # Each soort has its own fields (a schema of one object cannot say so): bsns only
        # with bsn-lijst, mutatieDatum only with mutaties and within the mutaties' 90 days.
        soort = case.body.get("soort")
        bsns = case.body.get("bsns")
        if soort == "bsn-lijst":
            case.body["bsns"] = [elfproef(bsn) for bsn in bsns] if isinstance(bsns, list) and bsns else ["999993653"]
        else:
            case.body.pop("bsns", None)
        if soort == "mutaties":
            drawn = str(case.body.get("mutatieDatum", ""))
            ago = timedelta(seconds=sum(map(ord, drawn)) % (80 * 24 * 3600) + 60)
            case.body["mutatieDatum"] = (datetime.now(timezone.utc) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            case.body.pop("mutatieDatum", None)
        # As with batches: half the drawn verzoekIds are kept (200, 409), the others made from
        # the content (202, or 200 for an equal one).
        drawn = str(case.body.get("verzoekId", ""))
        if drawn[-1:] in set("13579bdfBDF"):
            content = json.dumps({k: v for k, v in case.body.items() if k != "verzoekId"},
                                 sort_keys=True, default=str)
            case.body["verzoekId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, content))
    return case
