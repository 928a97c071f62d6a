# The two commands (see README.md):
#   make demo   back up a local n8n on SQLite with playbooks/backup.yml, wipe it,
#               restore it with playbooks/restore.yml and print the verification report
#   make test   set everything up and run every test (what CI runs: .ci/run)
#   make bench  benchmarks against the raw tools -> docs/benchmarks.md (not part of make test;
#               SIZES, DBS, RUNS knobs: see scripts/bench.sh)
.PHONY: demo test bench setup lint unit sanity integration molecule build docs

demo:
	scripts/demo.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

setup:
	scripts/setup.sh

lint unit sanity integration molecule build:
	scripts/test.sh $@

docs:
	scripts/docs.sh
