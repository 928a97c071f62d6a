#!/usr/bin/env bash
# The README's main-job command (make demo):
#   1. set up (venv, collections, n8n 2.40.7) and start a local n8n on SQLite, the
#      embedded default, with sample data (webhook + credential, schedule, inactive, ...)
#   2. back it up with playbooks/backup.yml (key escrowed in Ansible Vault first)
#   3. wipe the instance: stop it, delete its folder, start a fresh, empty n8n
#      (it generates a new key of its own)
#   4. restore with playbooks/restore.yml, which prints its verification report
#   5. check from outside: the webhook answers with the seeded body through its credential
# Everything lives in $LIFEBOAT_DEMO_DIR (default ~/.cache/lifeboat-n8n/demo); n8n is
# stopped at the end (start it again with the command printed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$LIFEBOAT_ROOT"

demo=${LIFEBOAT_DEMO_DIR:-$LIFEBOAT_CACHE/demo}
version=${LIFEBOAT_DEMO_VERSION:-2.40.7}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Setting up (first run installs Python packages, collections and n8n $version; later runs reuse them)"
scripts/setup.sh tools venv collections
harness/install-n8n.sh "$version"

state=$demo/n8n-state.json
python -m n8n_harness stop --state-file "$state" >/dev/null 2>&1 || true
rm -rf "${demo:?}" && mkdir -p "$demo" && chmod 700 "$demo"
harness_cmd="env PYTHONPATH=$LIFEBOAT_ROOT/harness $LIFEBOAT_VENV/bin/python -m n8n_harness"

stop_n8n() { $harness_cmd stop --state-file "$state" >/dev/null 2>&1 || true; }
trap stop_n8n EXIT

say "Starting n8n $version on SQLite and seeding sample content"
$harness_cmd start --state-file "$state" --version "$version" --base-dir "$demo/n8n" --key-in-config
$harness_cmd seed --state-file "$state" --output "$demo/seed.json"
base=$demo/n8n
node=$(python -c "from n8n_harness import installs; print(installs.node_dir('$version'))")/bin/node
n8n_bin=$(python -c "from n8n_harness import installs; print(installs.n8n_bin('$version'))")

# Secrets for the playbooks: the vault password of the key escrow and n8n's API key.
python - "$demo" <<'EOF'
import json, os, secrets, sys
demo = sys.argv[1]
seed = json.load(open(os.path.join(demo, "seed.json")))
fd = os.open(os.path.join(demo, "secrets.yml"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"key_escrow_vault_secret": secrets.token_urlsafe(24), "lifeboat_n8n_api_key": seed["api_key"]}, f)
EOF

cat >"$demo/inventory.yml" <<EOF
# A native n8n started by the test harness ("command" service manager).
n8n:
  hosts:
    demo-n8n:
      ansible_connection: local
      ansible_python_interpreter: $LIFEBOAT_VENV/bin/python
      lifeboat_n8n_deployment: native
      lifeboat_n8n_service_manager: command
      lifeboat_n8n_start_command: $harness_cmd start --state-file $state
      lifeboat_n8n_stop_command: $harness_cmd stop --state-file $state
      lifeboat_n8n_env_files: [$base/n8n.env]
      lifeboat_n8n_user_folder: $base/home
      lifeboat_n8n_log_file: $base/n8n.log
      lifeboat_n8n_command: [$node, $n8n_bin]
      backup_root: $demo/host-backups
      backup_fetch: true
      backup_fetch_dest: $demo/backups
      key_escrow_dir: $demo/escrow/demo-n8n
      restore_escrow_dir: $demo/escrow/demo-n8n
      restore_staging_dir: $demo/staging
      restore_snapshot_root: $demo/pre-restore
      restore_vault_secret: "{{ key_escrow_vault_secret }}"
      restore_webhook_probes:
        - path: lifeboat-echo
          method: GET
          query: {name: lifeboat, a: "2", b: "3"}
          headers: {X-Lifeboat-Token: "{{ lifeboat_demo_token }}"}
          status: 200
          json_equals: {echo: lifeboat, sum: 5, version: published}
EOF
python - "$demo" <<'EOF'
import json, os, sys
demo = sys.argv[1]
path = os.path.join(demo, "secrets.yml")
data = json.load(open(path))
data["lifeboat_demo_token"] = json.load(open(os.path.join(demo, "seed.json")))["token"]
fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(data, f)
EOF

playbook() { ansible-playbook -i "$demo/inventory.yml" -e "@$demo/secrets.yml" "$@"; }

say "Backing up with playbooks/backup.yml"
start=$SECONDS
playbook playbooks/backup.yml
backup=$(find "$demo/backups" -mindepth 1 -maxdepth 1 -type d | sort | tail -n 1)
echo "backup fetched to the controller: $backup ($((SECONDS - start)) s)"

say "Wiping the instance: stop, delete its folder, start a fresh n8n (new key, empty database)"
$harness_cmd stop --state-file "$state"
rm -rf "${base:?}/home"
$harness_cmd start --state-file "$state"
curl -fsS -o /dev/null -w 'echo webhook on the wiped instance: HTTP %{http_code} (expected 404)\n' \
    "$(python -c "import json; print(json.load(open('$state'))['port'])" | sed 's|^|http://127.0.0.1:|')/webhook/lifeboat-echo" || true

say "Restoring with playbooks/restore.yml"
start=$SECONDS
playbook playbooks/restore.yml -e "restore_backup=$backup" -e restore_confirm=true
echo "restore took $((SECONDS - start)) s"

say "Checking from outside"
python - "$demo" "$state" <<'EOF'
import json, sys, requests
demo, state = sys.argv[1], sys.argv[2]
seed = json.load(open(f"{demo}/seed.json"))
port = json.load(open(state))["port"]
r = requests.get(f"http://127.0.0.1:{port}/webhook/lifeboat-echo", params={"name": "lifeboat", "a": "2", "b": "3"},
                 headers={"X-Lifeboat-Token": seed["token"]}, timeout=30)
print(f"GET /webhook/lifeboat-echo -> HTTP {r.status_code} {r.text}")
assert r.status_code == 200 and r.json() == {"echo": "lifeboat", "sum": 5, "version": "published"}, "unexpected answer"
print("The restored instance answers through its decrypted credential, on the published version.")
EOF
say "Demo complete. Files: $demo (n8n was stopped; start it again with: $harness_cmd start --state-file $state)"
