"""make chaos: N jobs of every task through the whole local system while workers are
SIGKILLed at random and the network to the emulator is refused, black-holed and cut
(through the fault-injecting proxy, local-dev/src/fault_proxy.rs); then every job must
reach a terminal state within a stated bound, with the counters equal to the job items,
the stats invariants holding, and the queue and dead-letter queue empty.

Run by scripts/chaos.sh (which builds, starts the emulator and passes its URL); settings
in the environment:
  CHAOS_JOBS      jobs in all, spread over the four tasks (default 1000)
  CHAOS_KILLS     SIGKILLs of random workers (default 50)
  CHAOS_WORKERS   worker processes (default 3, each --concurrency 4)
  CHAOS_SEED      random seed (default: chosen and printed)
  CHAOS_PHASE_SECS  length of each fault phase (default 15)
  CHAOS_BOUND_SECS  how long after the last fault every job must be terminal (default 600)
  CHAOS_AWS_TIMEOUTS  attempt/operation deadlines of every AWS call, seconds (default 10/30:
                    the emulator serializes DynamoDB calls, so under load its answers are slow)
  CHAOS_COUNTERS  JOBS_COUNTERS of the run (default stream, as `make run`: the counter
                  aggregator runs too, its calls through the same faults; the final wait
                  then also waits for the stats to converge)
Exit 0 when every check holds, 1 otherwise; the figures are printed either way.
"""

import concurrent.futures
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "debug")
LOGS = os.path.join(ROOT, ".local", "chaos")
EMULATOR = os.environ["CHAOS_EMULATOR_URL"]

JOBS = int(os.environ.get("CHAOS_JOBS", "1000"))
KILLS = int(os.environ.get("CHAOS_KILLS", "50"))
COUNTERS = os.environ.get("CHAOS_COUNTERS", "stream")
WORKERS = int(os.environ.get("CHAOS_WORKERS", "3"))
SEED = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 1_000_000))
PHASE = float(os.environ.get("CHAOS_PHASE_SECS", "15"))
BOUND = float(os.environ.get("CHAOS_BOUND_SECS", "600"))
ATTEMPT_TIMEOUT, OPERATION_TIMEOUT = os.environ.get("CHAOS_AWS_TIMEOUTS", "10/30").split("/")
VISIBILITY = 6

rng = random.Random(SEED)
procs = []
lock = threading.Lock()


def log(message):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as err:
        text = err.read()
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, text.decode(errors="replace")


def start(name, args, env):
    out = open(os.path.join(LOGS, f"{name}.log"), "ab")
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    with lock:
        procs.append(proc)
    return proc


def stop_all():
    with lock:
        running = [p for p in procs if p.poll() is None]
    for p in running:
        p.terminate()
    for p in running:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    os.makedirs(LOGS, exist_ok=True)
    for name in os.listdir(LOGS):
        os.remove(os.path.join(LOGS, name))
    if COUNTERS not in ("stream", "inline"):
        raise SystemExit(f"CHAOS_COUNTERS={COUNTERS!r}: expected stream or inline")
    log(f"seed {SEED}: {JOBS} jobs, {KILLS} kills, {WORKERS} workers, fault phases of {PHASE:.0f} s, bound {BOUND:.0f} s, counting {COUNTERS}")

    base = {k: v for k, v in os.environ.items() if not k.startswith("JOBS_")}
    base.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1", RUST_LOG="info")
    prefix = f"chaos{SEED}"
    provisioned = subprocess.run(
        [os.path.join(BIN, "provision"), prefix], env={**base, "AWS_ENDPOINT_URL": EMULATOR, "JOBS_COUNTERS": COUNTERS},
        check=True, capture_output=True, text=True,
    ).stdout
    settings = dict(line.split("=", 1) for line in provisioned.splitlines() if "=" in line)

    proxy = subprocess.Popen(
        [os.path.join(BIN, "fault-proxy"), "--upstream", EMULATOR], env=base,
        stdout=subprocess.PIPE, stderr=open(os.path.join(LOGS, "fault-proxy.log"), "ab"), text=True,
    )
    with lock:
        procs.append(proxy)
    urls = dict(proxy.stdout.readline().strip().split("=", 1) for _ in range(2))
    control = urls["CONTROL_URL"] + "/faults"

    api_addr = f"127.0.0.1:{free_port()}"
    env = {
        **base,
        **settings,
        "AWS_ENDPOINT_URL": urls["PROXY_URL"],
        "JOBS_API_ADDR": api_addr,
        "JOBS_VISIBILITY_TIMEOUT_SECS": str(VISIBILITY),
        "JOBS_RECEIVE_WAIT_SECS": "2",
        "JOBS_SHUTDOWN_GRACE_SECS": "2",
        "JOBS_RETRY_BASE_DELAY_MS": "200",
        "JOBS_RETRY_MAX_DELAY_MS": "1000",
        "JOBS_ATTEMPT_TIMEOUT_SECS": "30",
        "JOBS_AWS_ATTEMPT_TIMEOUT_SECS": ATTEMPT_TIMEOUT,
        "JOBS_AWS_OPERATION_TIMEOUT_SECS": OPERATION_TIMEOUT,
        "JOBS_RECONCILE_INTERVAL_SECS": "5",
    }
    api_url = f"http://{api_addr}"
    start("api", [os.path.join(BIN, "local-api")], env)
    start("reconciler", [os.path.join(BIN, "reconciler")], env)
    if COUNTERS == "stream":
        start("counter-aggregator", [os.path.join(BIN, "counter-aggregator")], env)
    workers = [start(f"worker-{i}", [os.path.join(BIN, "data-processor"), "--concurrency", "4"], env) for i in range(WORKERS)]
    deadline = time.time() + 30
    while not _up(api_url):
        if time.time() > deadline:
            raise SystemExit("the API did not start; see " + LOGS)
        time.sleep(0.2)

    tasks = [
        ("process-data", lambda: {"kib": 64}),
        ("sleep", lambda: {"ms": rng.randrange(100, 1500)}),
        ("flaky", lambda: {"failAttempts": 1}),
        ("fail", lambda: {"message": "chaos"}),
    ]
    plan = [(f"{prefix}-{i}", *tasks[i % len(tasks)]) for i in range(JOBS)]
    plan = [(key, task, make()) for key, task, make in plan]
    jobs = {}
    submit_errors = {"retried": 0}

    span = 3 * (PHASE + 5)  # submissions spread over the fault phases

    def submit(item):
        index, key, task, job_input = item
        time.sleep(max(0.0, started + span * index / JOBS - time.time()))
        while True:  # a client retrying with its idempotency key until accepted
            try:
                status, reply = http("POST", api_url + "/jobs", {"task": task, "input": job_input, "idempotencyKey": key})
            except OSError:
                status, reply = None, None
            if status == 202:
                return key, task, reply["jobId"]
            if status is not None and status not in (503,):
                raise SystemExit(f"POST /jobs answered {status}: {reply}")
            with lock:
                submit_errors["retried"] += 1
            time.sleep(0.5)

    stop_kills = threading.Event()
    kills = {"done": 0}

    def killer():
        interval = (3 * PHASE + 20) / max(KILLS, 1)
        while kills["done"] < KILLS and not stop_kills.is_set():
            time.sleep(interval * rng.uniform(0.5, 1.5))
            i = rng.randrange(len(workers))
            workers[i].send_signal(signal.SIGKILL)
            workers[i].wait()
            workers[i] = start(f"worker-{i}", [os.path.join(BIN, "data-processor"), "--concurrency", "4"], env)
            kills["done"] += 1

    started = time.time()
    kill_thread = threading.Thread(target=killer, daemon=True)
    kill_thread.start()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    submissions = [pool.submit(submit, (i, *item)) for i, item in enumerate(plan)]

    phases = []
    for fault in ("refuse", "blackhole", "cut"):
        time.sleep(5)
        log(f"fault phase: {fault} for {PHASE:.0f} s")
        status, _ = http("PUT", control, [{"fault": fault}])
        assert status == 200, status
        time.sleep(PHASE)
        http("DELETE", control)
        phases.append(fault)
    faults_over = time.time()
    for future in submissions:
        key, task, job_id = future.result()
        jobs[job_id] = task
    submitted_at = time.time()
    kill_thread.join(timeout=120)
    stop_kills.set()
    log(f"all {len(jobs)} jobs accepted ({submit_errors['retried']} client retries); {kills['done']} kills; waiting")

    # Every job terminal, and the queue and dead-letter queue empty, within the bound.
    sqs = boto3.client("sqs", endpoint_url=EMULATOR, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")

    def depth(url):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])

    all_terminal_at = None
    while True:
        status, stats = http("GET", api_url + "/jobs/stats")
        if status == 200 and stats["inFlight"] == 0 and stats["submitted"] >= len(jobs):
            all_terminal_at = all_terminal_at or time.time()
            if depth(settings["JOBS_QUEUE_URL"]) == 0 and depth(settings["JOBS_DLQ_URL"]) == 0:
                break
        if time.time() - faults_over > BOUND:
            break
        time.sleep(2)
    done_at = time.time()

    failures = []
    states = {}
    retries = 0
    by_task = {}
    for job_id, task in jobs.items():
        status, job = http("GET", f"{api_url}/jobs/{job_id}")
        if status != 200:
            failures.append(f"GET /jobs/{job_id} answered {status}")
            continue
        states[job["status"]] = states.get(job["status"], 0) + 1
        by_task.setdefault(task, {}).setdefault(job["status"], 0)
        by_task[task][job["status"]] += 1
        retries += job["attempts"] - 1 if job["attempts"] > 0 else 0
        if job["status"] not in ("SUCCEEDED", "FAILED"):
            failures.append(f"job {job_id} ({task}) is {job['status']}")
        if task == "fail" and job["status"] != "FAILED":
            failures.append(f"job {job_id} of task fail is {job['status']}")
    status, stats = http("GET", api_url + "/jobs/stats")
    ddb = boto3.client("dynamodb", endpoint_url=EMULATOR, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    items = 0
    for page in ddb.get_paginator("scan").paginate(TableName=settings["JOBS_TABLE_NAME"], ProjectionExpression="pk"):
        items += sum(1 for i in page["Items"] if i["pk"]["S"].startswith("JOB#"))
    checks = {
        "every job terminal": sum(v for k, v in states.items() if k not in ("SUCCEEDED", "FAILED")) == 0,
        "job items == jobs submitted": items == len(jobs),
        "submitted == job items": stats["submitted"] == items,
        "succeeded == SUCCEEDED jobs": stats["succeeded"] == states.get("SUCCEEDED", 0),
        "failed == FAILED jobs": stats["failed"] == states.get("FAILED", 0),
        "retries == sum(attempts - 1)": stats["retries"] == retries,
        "inFlight == 0": stats["inFlight"] == 0,
        "job queue empty": depth(settings["JOBS_QUEUE_URL"]) == 0,
        "dead-letter queue empty": depth(settings["JOBS_DLQ_URL"]) == 0,
    }
    _, proxy_status = http("GET", control)
    actions = {}
    with open(os.path.join(LOGS, "reconciler.log"), errors="replace") as f:
        for line in f:
            if '"action"' in line:
                try:
                    action = json.loads(line).get("fields", {}).get("action") or json.loads(line).get("action")
                except ValueError:
                    continue
                actions[action] = actions.get(action, 0) + 1
    figures = {
        "seed": SEED,
        "jobs": len(jobs),
        "kills": kills["done"],
        "faultPhases": phases,
        "proxy": proxy_status["counts"],
        "clientRetries": submit_errors["retried"],
        "states": states,
        "byTask": by_task,
        "stats": {k: stats[k] for k in ("submitted", "succeeded", "failed", "retries", "inFlight")},
        "jobItems": items,
        "reconcilerActions": actions,
        "secsRun": round(done_at - started, 1),
        "secsAllTerminalAfterLastFault": round((all_terminal_at or done_at) - faults_over, 1) if all_terminal_at else None,
        "secsQueuesEmptyAfterLastFault": round(done_at - faults_over, 1),
        "boundSecs": BOUND,
    }
    print(json.dumps(figures, indent=2))
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    for failure in failures[:20]:
        print(f"  FAIL {failure}")
    ok = all(checks.values()) and not failures
    print(f"chaos seed {SEED}: {'PASSED' if ok else 'FAILED'} (logs in {LOGS})")
    return 0 if ok else 1


def _up(url):
    try:
        http("GET", url + "/openapi.json", timeout=2)
        return True
    except OSError:
        return False


def _stopped(signum, _frame):
    stop_all()
    os._exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    try:
        code = main()
    finally:
        stop_all()
    sys.exit(code)
