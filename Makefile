# The front door. `make run` runs the whole system on this machine; `make test` runs every test.

.PHONY: run test check system-test chaos bench console lambdas cdk-synth image kind-up kind-down cdk8s-synth clean help

help:
	@echo "make run      run the API, workers and a local AWS emulator (Ctrl-C stops all)"
	@echo "make test     run every test (starts and stops what the tests need)"
	@echo "make check    the fast loop: format, lints, unit and in-memory tests (no emulator)"
	@echo "make system-test  the Rust tests with the emulator suites (starts and stops the emulator)"
	@echo "make chaos    jobs under SIGKILLs and network faults; checks every job ends (CHAOS_* settings)"
	@echo "make bench    start the local system and print its performance figures"
	@echo "make console API=https://...  the status page for a deployed API, calls signed with your AWS credentials"
	@echo "make lambdas  build the Lambda zips (arm64) into target/lambda/"
	@echo "make cdk-synth  synthesize the CDK app (needs make lambdas) into infra-cdk/cdk.out/"
	@echo "make cdk8s-synth  synthesize the worker chart (example values) into cdk8s/dist/"
	@echo "make image    build the worker container image (data-processor:dev); prints name and size"
	@echo "make kind-up  kind cluster with KEDA, LocalStack, the image and the chart (Docker and internet)"
	@echo "make kind-down  delete that cluster and stop LocalStack"
	@echo "make clean    remove build output, virtual environments and logs"

run:
	bash localstack/run.sh

test:
	bash scripts/test.sh

check:
	cargo fmt --all --check
	cargo clippy --quiet --workspace --all-targets -- -D warnings
	cargo test --workspace

system-test:
	bash scripts/system-test.sh

chaos:
	bash scripts/chaos.sh

bench:
	bash scripts/bench.sh

console:
	cargo run --quiet -p local-dev --bin console -- "$(API)"

lambdas:
	bash scripts/lambdas.sh

cdk-synth:
	cd infra-cdk && npm ci --no-audit --no-fund && npx cdk synth --quiet

cdk8s-synth:
	cd cdk8s && npm ci --no-audit --no-fund && CDK8S_CHECK_UPGRADE=false npx cdk8s synth

image:
	bash scripts/image.sh

kind-up:
	bash localstack/kind.sh up

kind-down:
	bash localstack/kind.sh down

clean:
	cargo clean
	rm -rf .venv .local cdk8s/node_modules cdk8s/dist infra-cdk/node_modules infra-cdk/cdk.out infra-cdk/.test-synth
