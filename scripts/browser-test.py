"""The status page in headless Chromium (Playwright), against a running local stack.

Checks what a person relies on: the page loads with no console errors, shows the totals
the API returns, a submitted job appears, filtering to FAILED shows only failed jobs,
cancelling a running `sleep` job from the page turns it CANCELLED, a schedule's history
opens from its row with its pause and resume, the chart has 7 days,
and every control is reachable with the keyboard. Saves a screenshot and prints the page's
weight. Run by scripts/browser-test.sh, which starts the stack.
"""

import argparse
import json
import re
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright


def api(base, path, method="GET", body=None, by=None):
    """Calls the API; `by` names the caller (make run takes it from x-jobs-principal)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if by:
        headers["x-jobs-principal"] = by
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_for(what, check, within=30.0):
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            sys.exit(f"browser test: timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the API's base URL, ending in /")
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--screenshot", help="also save the screenshot here")
    args = parser.parse_args()
    base, out = args.base, Path(args.out)

    ok = [api(base, "jobs", "POST", {"task": "process-data", "input": {"kib": 64}})["jobId"] for _ in range(3)]
    failing = api(base, "jobs", "POST", {"task": "fail", "input": {"message": "disk full"}})["jobId"]
    sleeper = api(base, "jobs", "POST", {"task": "sleep", "input": {"ms": 120000}})["jobId"]
    wait_for("the failing job to fail", lambda: api(base, f"jobs/{failing}")["status"] == "FAILED")
    wait_for("the sleep job to run", lambda: api(base, f"jobs/{sleeper}")["status"] == "RUNNING")
    wait_for("the process-data jobs to succeed", lambda: all(api(base, f"jobs/{j}")["status"] == "SUCCEEDED" for j in ok))

    # `make run` counts from the table's stream: wait (at most 10 s, the aggregator's lag
    # with room) until the stats show these five jobs as they are, before the page shows them.
    jobs = [api(base, f"jobs/{j}") for j in [*ok, failing, sleeper]]
    want = {
        "submitted": len(jobs),
        "succeeded": sum(j["status"] == "SUCCEEDED" for j in jobs),
        "failed": sum(j["status"] == "FAILED" for j in jobs),
        "retries": sum(max(j["attempts"] - 1, 0) for j in jobs),
        "inFlight": sum(j["status"] not in ("SUCCEEDED", "FAILED", "CANCELLED") for j in jobs),
    }
    seen = {}

    def counted():
        seen.update(api(base, "jobs/stats"))
        return {k: seen[k] for k in want} == want
    wait_for(lambda: f"the stats to count the jobs as {want} (last seen {seen})", counted, within=10.0)

    errors = []
    weights = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))

        def weigh(response):
            if response.url.startswith(base) and not response.url.startswith(base + "jobs"):
                weights[response.url] = len(response.body())
        page.on("response", weigh)
        page.goto(base)

        # Totals are those the API returns (nothing changes them while we look: the sleep
        # job runs, the rest are done).
        stats = api(base, "jobs/stats")
        for field in ("submitted", "succeeded", "failed", "cancelled", "retries", "inFlight"):
            expect(page.locator(f'#totals dd[data-field="{field}"]')).to_have_text(str(stats[field]))
        # No authorizer in front of this API: the token form stays hidden.
        expect(page.locator("#sign-in")).to_be_hidden()
        print(f"browser test: totals shown = API's {json.dumps({k: stats[k] for k in ('submitted', 'succeeded', 'failed')})}")

        # The chart: seven days of three bars each.
        expect(page.locator("#chart")).to_have_attribute("data-days", "7")
        expect(page.locator("#chart rect.day-bar")).to_have_count(21)

        # A job submitted now appears (the page refreshes itself every 5 s).
        fresh = api(base, "jobs", "POST", {"task": "process-data"})["jobId"]
        expect(page.locator(f'#jobs tr[data-job-id="{fresh}"]')).to_have_count(1, timeout=15000)
        for job in ok:
            expect(page.locator(f'#jobs tr[data-job-id="{job}"]')).to_have_count(1)

        # A hidden tab polls nothing; shown again, it refreshes at once.
        stats_calls = []
        page.on("request", lambda r: stats_calls.append(r.url) if r.url.endswith("/jobs/stats") else None)
        page.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        stats_calls.clear()
        page.wait_for_timeout(11000)
        assert not stats_calls, f"a hidden page polled: {stats_calls}"
        page.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        page.wait_for_timeout(1500)
        assert stats_calls, "the page shown again did not refresh"
        print(f"browser test: hidden 11 s, 0 polls; shown again, {len(stats_calls)} refresh(es) at once")

        # FAILED only.
        page.select_option("#status-filter", "FAILED")
        expect(page.locator("#jobs")).to_have_attribute("data-query", re.compile(r"(^|&)status=FAILED(&|$)"))
        expect(page.locator(f'#jobs tr[data-job-id="{failing}"]')).to_have_count(1)
        statuses = page.locator("#jobs tbody td.status").all_inner_texts()
        assert statuses and all(s == "FAILED" for s in statuses), statuses
        print(f"browser test: FAILED filter shows {len(statuses)} job(s), all FAILED")

        # Cancel the running sleep job from the page, with the keyboard.
        page.select_option("#status-filter", "RUNNING")
        expect(page.locator("#jobs")).to_have_attribute("data-query", re.compile(r"(^|&)status=RUNNING(&|$)"))
        show = page.get_by_role("button", name=f"Show job {sleeper}")
        show.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#detail")).to_be_visible()
        expect(page.locator('#detail-fields dd[data-field="Status"]')).to_have_text("RUNNING")
        page.get_by_role("button", name="Cancel job").click()
        expect(page.locator("#notice")).to_contain_text("Cancel requested")
        wait_for("the sleep job to be cancelled", lambda: api(base, f"jobs/{sleeper}")["status"] == "CANCELLED", 15)
        expect(page.locator('#detail-fields dd[data-field="Status"]')).to_have_text("CANCELLED", timeout=15000)
        expect(page.get_by_role("button", name="Re-run job")).to_be_enabled()
        print("browser test: the running sleep job was cancelled from the page")

        # Who did what: the detail names the submitter and who cancelled; another caller's
        # job shows its submitter in the list, and "Submitted by: me" leaves it out.
        expect(page.locator('#detail-fields dd[data-field="Submitted by"]')).to_have_text("local")
        expect(page.locator('#detail-fields dd[data-field="Cancelled by"]')).to_have_text("local")
        bobs = api(base, "jobs", "POST", {"task": "process-data"}, by="bob")["jobId"]
        page.select_option("#status-filter", "")
        bob_row = page.locator(f'#jobs tr[data-job-id="{bobs}"]')
        expect(bob_row).to_have_count(1, timeout=15000)
        expect(bob_row.locator("td.principal")).to_have_text("bob")
        page.select_option("#submitter-filter", "me")
        expect(page.locator("#jobs")).to_have_attribute("data-query", re.compile(r"(^|&)submittedBy=me(&|$)"))
        expect(bob_row).to_have_count(0)
        principals = page.locator("#jobs tbody td.principal").all_inner_texts()
        assert principals and set(principals) == {"local"}, principals
        page.select_option("#submitter-filter", "")
        print(f"browser test: submitters shown; 'Submitted by: me' lists {len(principals)} job(s), all local's")

        # A schedule's history opens from its row: a rate schedule runs when it is created
        # (as on AWS), so its history has a run with its job; then it is paused and resumed,
        # so its change log has two entries.
        name = f"browser-{int(time.time())}"
        api(base, "jobs/schedule", "POST", {"cron": "rate(5 minutes)", "name": name, "task": "sleep",
                                            "input": {"ms": 1}, "overlap": "forbid"})
        wait_for("the schedule's first run to register its job",
                 lambda: any(r["state"] == "registered" for r in api(base, f"jobs/schedules/{name}")["runs"]), 30)
        for enabled in (False, True):
            api(base, f"jobs/schedules/{name}", "PATCH", {"enabled": enabled})
        page.click("#refresh")
        page.get_by_role("button", name=f"History of schedule {name}").click()
        expect(page.locator("#history-heading")).to_have_text(f"History of {name}")
        expect(page.locator("#history-note")).to_contain_text("0 missed of the last 1 expected runs · overlap forbid")
        expect(page.locator("#history-runs tbody tr")).to_have_count(1)
        expect(page.locator("#history-changes li")).to_have_count(2)
        expect(page.locator("#history-changes li").first).to_contain_text("paused")
        expect(page.locator("#history-changes li").first).to_contain_text("by local")
        expect(page.locator("#schedules tbody tr", has_text=name).locator("td.principal")).to_have_text("local")
        print("browser test: a schedule's history (its run and job, its pause and resume) opens from its row")

        # Every control has a name and is reachable with Tab.
        page.select_option("#status-filter", "")
        page.locator("#detail").scroll_into_view_if_needed()
        for label in ("Status", "Submitted by", "Per page"):
            expect(page.get_by_label(label, exact=True)).to_be_visible()
        reached = set()
        page.locator("body").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("document.activeElement && (document.activeElement.id || document.activeElement.textContent.trim())"))
        for control in ("status-filter", "submitter-filter", "limit", "refresh", "auto-refresh", "cancel-job", "rerun-job"):
            if control == "cancel-job":
                continue  # disabled now that the job is cancelled
            assert control in reached, f"{control} is not reachable with Tab: {sorted(reached)}"

        page.locator("#detail").scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, 0)")
        shot = out / "status-page.png"
        page.screenshot(path=str(shot), full_page=True)
        if args.screenshot:
            page.screenshot(path=args.screenshot, full_page=True)
        # After the screenshot, which shows the schedule and its history.
        api(base, f"jobs/schedules/{name}", "DELETE")

        # Behind API Gateway's JWT authorizer: the API answers 401 without a bearer token.
        # The page asks for one, and its calls then carry it.
        token = "test-token-1"
        jwt_page = browser.new_page()
        jwt_errors = []
        jwt_page.on("pageerror", lambda e: jwt_errors.append(f"page error: {e}"))
        authorized = []

        def gateway(route, request):
            if request.headers.get("authorization") == f"Bearer {token}":
                authorized.append(request.url)
                route.continue_()
            else:
                route.fulfill(status=401, content_type="application/json", body='{"message":"Unauthorized"}')

        jwt_page.route(lambda url: url.startswith(base + "jobs"), gateway)
        jwt_page.goto(base)
        expect(jwt_page.locator("#sign-in")).to_be_visible()
        expect(jwt_page.locator("#notice")).to_contain_text("needs an access token")
        jwt_page.get_by_label("Access token (JWT) for this API").fill(token)
        jwt_page.get_by_role("button", name="Use token").click()
        expect(jwt_page.locator("#sign-in")).to_be_hidden()
        expect(jwt_page.locator('#totals dd[data-field="submitted"]')).not_to_have_text("–")
        assert any("jobs/stats" in u for u in authorized), authorized
        assert not jwt_errors, "\n".join(jwt_errors)
        print(f"browser test: with a JWT authorizer the page asks for a token, then {len(authorized)} API calls carried it")
        jwt_page.close()
        browser.close()

    assert not errors, "\n".join(errors)
    total = sum(weights.values())
    print(f"browser test: page weight {total / 1024:.1f} KiB ({', '.join(f'{u[len(base) - 1:]} {n} B' for u, n in sorted(weights.items()))})")
    print(f"browser test: passed; screenshot {shot}")


if __name__ == "__main__":
    main()
