#!/usr/bin/env bash
# Schemathesis against a live server: the whole OpenAPI schema, an Administrator's token, a
# bounded number of examples per operation. Fails on any 500 and any response that breaks the
# schema. Everything stays on the loopback interface and in a throw-away database.
#
#   bash .ci/schemathesis.sh            (SCHEMATHESIS_EXAMPLES=25, SCHEMATHESIS_SEED to reproduce)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
ST=.venv/bin/schemathesis
HOST=127.0.0.1
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-25}"
SEED="${SCHEMATHESIS_SEED:-20261123}"

WORK="$(mktemp -d)"
# The embedded default (SQLite + ORM broker) in a scratch directory, never a shared database.
unset DATABASE_URL REDIS_URL
export KEYFLOW_VAR_DIR="$WORK" DJANGO_DEBUG=0

SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://$HOST:$PORT"

echo "-- seeding a scratch database in $WORK"
$PY manage.py migrate --noinput -v 0
$PY manage.py seed_demo -v 0
TOKEN="$($PY manage.py drf_create_token administrator | awk '{print $3}')"
[ -n "$TOKEN" ] || { echo "could not create a token for 'administrator'"; exit 1; }

echo "-- starting the server on $BASE"
$PY manage.py runserver "$HOST:$PORT" --noreload >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$BASE/api/schema/" 2>/dev/null && break
    sleep 0.2
done

# A few workflows and an execution, so that detail operations also meet objects that exist.
AUTH="Authorization: Token $TOKEN"
ROLE_ID="$(curl -fsS -H "$AUTH" "$BASE/api/v1/roles/?is_builtin=true&limit=50" |
    $PY -c 'import json, sys; print(next(r["id"] for r in json.load(sys.stdin)["results"] if r["key"] == "administrator"))')"
post() { curl -fsS -o /dev/null -H "$AUTH" -H 'Content-Type: application/json' -X POST "$BASE$1" -d "$2"; }
# (seed_demo made workflows from templates too, so the manual one is found by the id it gets here.)
MANUAL_ID="$(curl -fsS -H "$AUTH" -H 'Content-Type: application/json' -X POST "$BASE/api/v1/workflows/" -d \
    '{"name": "Suspend by hand", "run_as": '"$ROLE_ID"', "definition": {"dsl": "1.0",
    "trigger": {"type": "manual"}, "input": {"schema": {"type": "object", "properties": {"user": {"type": "string"}}}},
    "do": [{"suspend": {"call": "user.suspend", "with": {"user": "{{ input.user }}"}}}]}}' |
    $PY -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
post /api/v1/workflows/ '{"name": "Engineers join Engineering", "run_as": '"$ROLE_ID"', "definition": {"dsl": "1.0",
    "trigger": {"type": "event", "event": "user.created", "when": "{{ event.user.department == '"'Engineering'"' }}"},
    "do": [{"join": {"call": "user.add_to_group", "with": {"user": "{{ event.user.id }}", "group": "Engineering"}}}]}}'
post /api/v1/workflows/ '{"name": "Monday report", "run_as": '"$ROLE_ID"', "definition": {"dsl": "1.0",
    "trigger": {"type": "schedule", "cron": "0 9 * * 1", "timezone": "Europe/Berlin"},
    "do": [{"noop": {"switch": [{"default": {"do": []}}]}}]}}'
post "/api/v1/workflows/$MANUAL_ID/runs/" '{"input": {"user": "nobody"}}'

echo "-- schemathesis: $EXAMPLES examples per operation, seed $SEED"
status=0
# One worker: with two, Hypothesis parses lambda sources with ``ast`` in both threads at once, and
# CPython 3.11's AST constructor is not thread-safe (cpython gh-106905: "AST constructor recursion
# depth mismatch" crashed a run with no failing check and no server error).
timeout 900 "$ST" run "$BASE/api/schema/" \
    --checks not_a_server_error,response_schema_conformance \
    --header "$AUTH" \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 20 \
    --suppress-health-check all \
    --warnings off \
    --generation-database none \
    --no-color || status=$?

if [ "$status" -ne 0 ]; then
    echo "-- schemathesis failed (exit $status); server errors logged:"
    grep -A 30 "Internal Server Error\|Traceback" "$WORK/server.log" | head -200 || true
fi
exit "$status"
