# The original system's targets. Configuration comes from PAYOUT_* variables and .env (see .env.example).
PAYOUT := bin/payout

.PHONY: install build start start-db migrate run-api run-request-gate run-oebs-gate run-accounts run-oebs-emulator run-tasks test bench

node_modules: package-lock.json
	npm ci
	@touch node_modules

install: node_modules

build: node_modules
	npm run build

start: node_modules
	$(PAYOUT) start

start-db: node_modules
	$(PAYOUT) start-db

migrate: node_modules
	$(PAYOUT) migrate

run-api: node_modules
	$(PAYOUT) api

run-request-gate: node_modules
	$(PAYOUT) req-gate

run-oebs-gate: node_modules
	$(PAYOUT) oebs-gate

run-accounts: node_modules
	$(PAYOUT) accounts

run-oebs-emulator: node_modules
	$(PAYOUT) oebs-emulator

run-tasks: node_modules
	$(PAYOUT) tasks

test: node_modules
	npm test

bench: node_modules
	npm run bench
