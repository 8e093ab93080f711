# Shared by scripts/demo and scripts/test: a project venv and missing apt packages.
# shellcheck shell=bash
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GALLRA_VENV:-$ROOT/.venv}"
export DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# apt_need PKG...: install the Debian packages that are not installed yet.
apt_need() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# venv_install EXTRAS: create the venv and install the project (editable) with EXTRAS.
venv_install() {
  local spec="$ROOT"
  [ -n "${1:-}" ] && spec="$ROOT[$1]"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e "$spec"
  # The message catalogues (gallra/locale/*/LC_MESSAGES/messages.po) compiled for gettext.
  "$VENV/bin/pybabel" -q compile -d "$ROOT/gallra/locale" -D messages
}

# npm_need PKG@VERSION...: front-end packages the browser tests inject (axe-core), kept in the venv.
npm_need() {
  local missing=()
  for pkg in "$@"; do
    [ -d "$VENV/node/node_modules/${pkg%@*}" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  npm install --silent --no-audit --no-fund --prefix "$VENV/node" "${missing[@]}" >/dev/null
}
