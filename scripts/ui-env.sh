# What the `sigil ui` browser test needs. Source after dev-env.sh.
#
#   ensure_ui_browser   Debian's chromium at /usr/bin/chromium (apt-get, once) and
#                       playwright-core in crates/sigil-cli/tests/ui (npm ci, when
#                       package-lock.json is newer than node_modules)
SIGIL_UI_TEST_DIR="$SIGIL_REPO/crates/sigil-cli/tests/ui"

ensure_ui_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing chromium (apt-get) for the sigil ui browser test"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  local stamp="$SIGIL_UI_TEST_DIR/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$SIGIL_UI_TEST_DIR/package-lock.json" -nt "$stamp" ]; then
    say "npm ci in $SIGIL_UI_TEST_DIR"
    (cd "$SIGIL_UI_TEST_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
