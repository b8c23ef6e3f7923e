# The front door. `make run` runs the whole system on this machine; `make test` runs every test.

.PHONY: run test lambdas image cdk8s-synth cdk-synth clean help

help:
	@echo "make run      run the API, workers and a local AWS emulator (Ctrl-C stops all)"
	@echo "make test     run every test (starts and stops what the tests need)"
	@echo "make lambdas  build the Lambda zips (arm64) into target/lambda/"
	@echo "make cdk-synth  synthesize the CDK app (needs make lambdas) into infra-cdk/cdk.out/"
	@echo "make clean    remove build output, virtual environments and logs"

run:
	bash localstack/run.sh

test:
	bash scripts/test.sh

lambdas:
	bash scripts/lambdas.sh

cdk-synth:
	cd infra-cdk && npm ci --no-audit --no-fund && npx cdk synth --quiet

clean:
	cargo clean
	rm -rf .venv .local cdk8s/node_modules cdk8s/dist infra-cdk/node_modules infra-cdk/cdk.out infra-cdk/.test-synth
