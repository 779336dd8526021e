"""Prepares a fresh engine for scripts/schemathesis.sh, as README's "A first session" does.

Through the operator's API it registers an afnemer with a rate no fuzzer reaches, issues
it an API key and registers its berichttype AANSLAG; it mints a citizen's HS256 token, opens
his box and delivers him one batch (with a bijlage), so the citizen's operations have
something to find. Standard library only. Prints the afnemer's key and the citizen's token,
one a line.

Usage: session.py BASE_URL (the tokens come from BERICHTENBOX_BEHEER_TOKEN and
BERICHTENBOX_BURGER_JWT_SECRET)
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone

OIN = "00000001234567890000"
BSN = "111222333"  # passes the elfproef


def call(base, method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def burger_token(secret, bsn, seconds):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": bsn, "exp": int(time.time()) + seconds}).encode())
    signing_input = f"{header}.{claims}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(signature)}"


def main():
    base = sys.argv[1].rstrip("/")
    beheer = os.environ["BERICHTENBOX_BEHEER_TOKEN"]
    secret = os.environ["BERICHTENBOX_BURGER_JWT_SECRET"]

    # A rate and burst no fuzzer reaches: the runs measure the contract, not the throttle.
    call(base, "PUT", f"/v1/beheer/afnemers/{OIN}", beheer,
         {"naam": "Schemathesis", "berichtenPerSeconde": 1_000_000, "burst": 1_000_000})
    key = call(base, "POST", f"/v1/beheer/afnemers/{OIN}/api-sleutels", beheer)["sleutel"]
    call(base, "PUT", "/v1/berichttypen/AANSLAG", key,
         {"omschrijving": "Aanslag inkomstenbelasting", "actief": True})

    token = burger_token(secret, BSN, 3600)
    call(base, "POST", "/v1/account", token, {"email": "jan@voorbeeld.nl"})
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    call(base, "POST", "/v1/batches", key, {
        "batchId": str(uuid.uuid4()),
        "aanmaakDatum": now,
        "berichten": [{
            "berichtId": str(uuid.uuid4()),
            "berichtType": "AANSLAG",
            "ontvanger": BSN,
            "onderwerp": "Uw aanslag",
            "tekst": "Geachte heer, mevrouw, hierbij ontvangt u uw aanslag.",
            "bijlagen": [{
                "omschrijving": "Aanslag",
                "mediatype": "application/pdf",
                "inhoud": base64.b64encode(b"%PDF-1.4\n").decode(),
            }],
        }],
    })
    print(key)
    print(token)


if __name__ == "__main__":
    main()
