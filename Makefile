# Thin wrappers around scripts/. Pass extra arguments with ARGS="...", e.g. make test ARGS="-k flows -x".
.PHONY: setup try test run chat pg-start pg-stop pg-url

setup:
	bash scripts/setup.sh

try:
	bash scripts/try.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

run:
	bash scripts/run.sh $(ARGS)

# A local chat with the bot in the terminal (no Telegram needed).
chat: setup
	.venv/bin/balie chat $(ARGS)

pg-start:
	bash scripts/postgres.sh start

pg-stop:
	bash scripts/postgres.sh stop

pg-url:
	@bash scripts/postgres.sh url
