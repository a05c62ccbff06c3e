# Arize Phoenix for the OTLP export integration test. Source after dev-env.sh.
#
#   ensure_phoenix_venv   pip install arize-phoenix into $SIGIL_DEV_DIR/venv-phoenix (once)
#   start_phoenix         phoenix serve on 127.0.0.1 (free ports, throw-away working dir);
#                         sets PHOENIX_PID and SIGIL_TEST_PHOENIX_URL (e.g. http://127.0.0.1:40123)
#   stop_phoenix          stops it
PHOENIX_VERSION=${PHOENIX_VERSION:-20.26.1}

ensure_phoenix_venv() { ensure_venv "$SIGIL_DEV_DIR/venv-phoenix" "arize-phoenix==$PHOENIX_VERSION"; }

start_phoenix() {
  local port grpc workdir log="$SIGIL_DEV_DIR/phoenix.log"
  port=$(free_port); grpc=$(free_port)
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/sigil-phoenix.XXXXXX")
  say "starting Phoenix on 127.0.0.1:$port (log: $log)"
  PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$port PHOENIX_GRPC_PORT=$grpc PHOENIX_WORKING_DIR=$workdir \
    PHOENIX_TELEMETRY_ENABLED=false DO_NOT_TRACK=1 \
    "$SIGIL_DEV_DIR/venv-phoenix/bin/phoenix" serve >"$log" 2>&1 &
  PHOENIX_PID=$!
  PHOENIX_WORKDIR=$workdir
  SIGIL_TEST_PHOENIX_URL="http://127.0.0.1:$port"
  local i
  for i in $(seq 1 240); do
    if curl -sf "$SIGIL_TEST_PHOENIX_URL/healthz" >/dev/null 2>&1; then export SIGIL_TEST_PHOENIX_URL; return 0; fi
    if ! kill -0 "$PHOENIX_PID" 2>/dev/null; then say "Phoenix died:"; tail -20 "$log" >&2; return 1; fi
    sleep 0.5
  done
  say "Phoenix did not answer within 120 s"; tail -20 "$log" >&2; return 1
}

stop_phoenix() {
  if [ -n "${PHOENIX_PID:-}" ]; then
    kill "$PHOENIX_PID" 2>/dev/null || true
    wait "$PHOENIX_PID" 2>/dev/null || true
  fi
  if [ -n "${PHOENIX_WORKDIR:-}" ]; then rm -rf "$PHOENIX_WORKDIR"; fi
  PHOENIX_PID=; PHOENIX_WORKDIR=
  return 0
}
