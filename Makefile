# The original system's targets. Configuration comes from PAYOUT_* variables and .env (see .env.example).
PAYOUT := bin/payout

.PHONY: install start-db migrate run-api run-accounts test bench

node_modules: package-lock.json
	npm ci
	@touch node_modules

install: node_modules

start-db: node_modules
	$(PAYOUT) start-db

migrate: node_modules
	$(PAYOUT) migrate

run-api: node_modules
	$(PAYOUT) api

run-accounts: node_modules
	$(PAYOUT) accounts

test: node_modules
	npm test

bench: node_modules
	npm run bench
