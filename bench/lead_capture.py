"""Lead capture throughput: requests/s and latency of `POST /capture/<token>/` on a real
server (gunicorn, gthread workers) beside a trivial endpoint of the same server.

Run from the repository root:

    .venv/bin/python -m bench.lead_capture [--only sqlite|postgres] [--pg-url URL]
        [--seconds 10] [--concurrency 16] [--workers 2] [--threads 8] [--clients 2]

For each database it migrates a throw-away one (a temp SQLite file, or `kasatka_capture_bench`
created and dropped on the PostgreSQL server of --pg-url), makes a business and a form,
starts gunicorn on 127.0.0.1 and drives it from --clients load-generator processes holding
--concurrency keep-alive connections in all (closed loop: each sends its next request when
the answer comes). Two phases, each after a warm-up:

- baseline: `GET /capture/<unknown token>/` (JSON 404: the framework, the middleware and
  one indexed lookup) — the ceiling of this server on this machine;
- capture: distinct leads posted as the snippet's script posts them (JSON, UTM tags, two
  consent channels, the consent text, an Idempotency-Key), rate limits on (set high enough
  not to refuse).

It prints requests/s, p50/p90/p99 latency and errors, checks that every accepted lead is
one contact, and writes a section for docs/performance.md to --out. The load generator
shares the machine's cores with the server: on a 2-core machine the figures are the
server's with about half a core taken by the generator.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BENCH_DB = "kasatka_capture_bench"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
TARGET_RPS = 1000.0
TARGET_P99_MS = 50.0
RESULT_PREFIX = "RESULT "

SETUP = """
import json, os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasatka.settings")
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from kasatka.accounts.models import Business
from kasatka.capture.models import CaptureForm
from kasatka.contacts.models import Contact
business = Business.objects.create(name="Bench", slug="bench")
form = CaptureForm.objects.create(
    business=business, name="Bench form", default_source="Site", channels="email,sms",
    consent_text="I agree to be written to by e-mail and SMS.",
)
client = Client(HTTP_HOST="127.0.0.1")
queries = []
for i in range(4):  # the first lead makes the business's chains: counted apart
    body = {"name": "Анна Петрова", "phone": "+7916000%04d" % i, "consent": ["email", "sms"],
            "consent_text": form.consent_text, "utm_source": "bench"}
    with CaptureQueriesContext(connection) as captured:
        answer = client.post("/capture/%s/" % form.token, json.dumps(body),
                             content_type="application/json", HTTP_IDEMPOTENCY_KEY="k%d" % i)
    assert answer.status_code == 200, answer.content
    queries.append(len(captured.captured_queries))
from kasatka.capture.actions import process_inbox
while process_inbox():
    pass
print(json.dumps({"token": form.token, "queries": queries[1:],
                  "contacts": Contact.objects.count()}))
"""

COUNT = """
import json, os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasatka.settings")
django.setup()
import time
from kasatka.capture.actions import process_inbox
from kasatka.capture.models import LeadInbox
from kasatka.contacts.models import Address, Contact
# The accepted leads, handed to the intake as one task worker does (timed).
waiting = LeadInbox.objects.filter(processed_at__isnull=True).count()
started = time.perf_counter()
while process_inbox():
    pass
seconds = time.perf_counter() - started
print(json.dumps({"contacts": Contact.objects.count(), "inbox": waiting,
                  "intake_seconds": seconds,
                  "phones": Address.objects.filter(kind="phone").count()}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_django(env: dict[str, str], code: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, check=True,
        capture_output=True, text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


@contextmanager
def database(kind: str, pg_url: str) -> Iterator[dict[str, str]]:
    """The environment of a throw-away database, migrated; dropped afterwards."""
    env = {**os.environ, "KASATKA_ALLOWED_HOSTS": "127.0.0.1,testserver",
           "KASATKA_DEBUG": "0", "KASATKA_LOG_LEVEL": "WARNING",
           # Rate limits stay on (their UPDATEs are part of the path), high enough to let
           # the benchmark's single client address and single form through. The burst is
           # a minute's worth: a request that waited for the database lock longer than
           # the burst's span would be refused, however high the rate.
           "KASATKA_CAPTURE_PER_IP_PER_MINUTE": "6000000",
           "KASATKA_CAPTURE_PER_IP_BURST": "6000000",
           "KASATKA_CAPTURE_PER_FORM_PER_MINUTE": "6000000",
           "KASATKA_CAPTURE_PER_FORM_BURST": "6000000"}
    tmp = Path(tempfile.mkdtemp(prefix="kasatka-capture-bench-"))
    env["KASATKA_VAR_DIR"] = str(tmp)
    admin = None
    if kind == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    else:
        import psycopg

        admin = psycopg.connect(pg_url, autocommit=True)
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
        parts = urlsplit(pg_url)
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    try:
        subprocess.run([sys.executable, "-m", "kasatka", "migrate", "-v0"], env=env,
                       cwd=REPO_ROOT, check=True)
        yield env
    finally:
        if admin is not None:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            admin.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def server(env: dict[str, str], workers: int, threads: int) -> Iterator[int]:
    port = free_port()
    gunicorn = VENV_BIN / "gunicorn"
    command = [str(gunicorn), "kasatka.wsgi:application", "-b", f"127.0.0.1:{port}",
               "-w", str(workers), "--threads", str(threads), "-k", "gthread",
               "--keep-alive", "30", "--backlog", "2048", "--log-level", "warning", "--preload"]
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        warm_up(port, workers * threads)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def warm_up(port: int, connections: int) -> None:
    """A few requests on many connections, so that every worker has imported its views and
    opened its database connection before anything is timed."""

    def hit() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(5):
            conn.request("GET", "/capture/warm-up/", headers={"Accept": "application/json"})
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=hit) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- the load generator ---------------------------------------------------------------


def _client(port: int, phase: str, token: str, stop_at: float, measure_from: float,
            seed: str, out: list[tuple[float, int]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while True:
        started = time.perf_counter()
        if started >= stop_at:
            break
        n += 1
        if phase == "baseline":
            conn.request("GET", f"/capture/no-such-form-{seed}/",
                         headers={"Accept": "application/json"})
        else:
            body = json.dumps({
                "name": "Анна Петрова", "phone": f"+7916{seed}{n % 10000:04d}",
                "email": f"lead-{seed}-{n}@example.com", "consent": ["email", "sms"],
                "consent_text": "I agree to be written to by e-mail and SMS.",
                "page_url": "https://shop.example/kitchens?utm_source=yandex&utm_medium=cpc"
                            "&utm_campaign=spring",
            })
            conn.request("POST", f"/capture/{token}/", body, headers={
                "Content-Type": "application/json", "Accept": "application/json",
                "Idempotency-Key": uuid.uuid4().hex, "Origin": "https://shop.example",
            })
        response = conn.getresponse()
        response.read()
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if started >= measure_from:
            out.append((time.perf_counter() - started, response.status))
    conn.close()


def _generator(port: int, phase: str, token: str, connections: int, start_at: float,
               warmup: float, seconds: float, index: int,
               results: Any) -> None:
    out: list[tuple[float, int]] = []
    # Wall-clock start shared by every generator process; perf_counter within.
    time.sleep(max(0.0, start_at - time.time()))
    begin = time.perf_counter()
    threads = [
        threading.Thread(target=_client, args=(
            port, phase, token, begin + warmup + seconds, begin + warmup,
            f"{index * 100 + t:03d}", out,
        ))
        for t in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def load(port: int, phase: str, token: str, concurrency: int, clients: int, warmup: float,
         seconds: float) -> dict[str, Any]:
    results: Any = multiprocessing.Queue()
    start_at = time.time() + 0.5
    per = [concurrency // clients + (1 if i < concurrency % clients else 0)
           for i in range(clients)]
    procs = [multiprocessing.Process(target=_generator, args=(
        port, phase, token, n, start_at, warmup, seconds, i, results)) for i, n in enumerate(per)]
    for p in procs:
        p.start()
    samples: list[tuple[float, int]] = []
    for _ in procs:
        samples.extend(results.get())
    for p in procs:
        p.join()
    latencies = sorted(s for s, _status in samples)
    statuses: dict[int, int] = {}
    for _lat, status in samples:
        statuses[status] = statuses.get(status, 0) + 1

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "phase": phase, "requests": len(samples), "rps": len(samples) / seconds,
        "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        "statuses": statuses,
    }


def bench(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(kind, args.pg_url) as env:
        setup = run_django(env, SETUP)
        with server(env, args.workers, args.threads) as port:
            phases = [
                load(port, phase, setup["token"], args.concurrency, args.clients, args.warmup,
                     args.seconds)
                for phase in ("baseline", "capture")
            ]
        counted = run_django(env, COUNT)
    return {"db": kind, "queries": setup["queries"], "phases": phases, "counted": counted,
            "setup_contacts": setup["contacts"]}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    load1, load5, _load15 = os.getloadavg()
    lines = [
        "## Lead capture throughput (`bench/lead_capture.py`)",
        "",
        f"Load average when the report was written: {load1:.1f} (1 min), {load5:.1f} (5 min).",
        "",
        f"gunicorn, {args.workers} gthread workers × {args.threads} threads, on "
        f"{os.cpu_count()} cores shared with the load generator ({args.clients} processes, "
        f"{args.concurrency} keep-alive connections, closed loop, {args.seconds:g} s measured "
        f"after {args.warmup:g} s warm-up). Target: ≥ {TARGET_RPS:,.0f} req/s with "
        f"p99 < {TARGET_P99_MS:g} ms on 2 cores.",
        "",
        "| database | endpoint | req/s | p50 ms | p90 ms | p99 ms | answers |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for p in r["phases"]:
            what = "baseline: unknown form, JSON 404" if p["phase"] == "baseline" else (
                "capture: new lead, JSON + Idempotency-Key")
            codes = ", ".join(f"{k}×{v}" for k, v in sorted(p["statuses"].items()))
            lines.append(f"| {r['db']} | {what} | {p['rps']:,.0f} | {p['p50']:.1f} | "
                         f"{p['p90']:.1f} | {p['p99']:.1f} | {codes} |")
    lines.append("")
    for r in results:
        capture = r["phases"][1]
        base = r["phases"][0]
        ok = capture["statuses"].get(200, 0)
        lines.append(
            f"- {r['db']}: {r['queries'][-1]} queries per new lead; capture runs at "
            f"{capture['rps'] / base['rps'] * 100:.0f} % of the baseline's rate; "
            f"{r['counted']['contacts'] - r['setup_contacts']} contacts made for {ok} "
            f"accepted leads in the measured window (warm-up leads are extra)."
        )
        if r["counted"]["inbox"]:
            rate = r["counted"]["inbox"] / max(r["counted"]["intake_seconds"], 1e-9)
            lines.append(
                f"  The endpoint kept them in the inbox (`KASATKA_CAPTURE_DEFER`, the "
                f"default); one task worker then handed {r['counted']['inbox']:,} to the "
                f"intake in {r['counted']['intake_seconds']:.1f} s ({rate:,.0f} leads/s)."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--out", default="/tmp/perf9_capture.md")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgres"]
    results = []
    for kind in kinds:
        try:
            result = bench(kind, args)
        except Exception as exc:  # a missing PostgreSQL skips its rows, with the reason
            traceback.print_exc()
            print(f"{kind}: skipped ({exc})", file=sys.stderr)
            continue
        results.append(result)
        for p in result["phases"]:
            print(RESULT_PREFIX + json.dumps({"db": kind, **p}), flush=True)
    text = report(results, args)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
