#!/usr/bin/env bash
# Install what `app` (scripts/start.sh) or `tests` (scripts/test.sh) needs: the Debian packages of that kind
# in scripts/system-packages.txt whose program is missing, then .venv (Python 3.11) with requirements.txt or
# requirements-dev.txt. Quick no-op when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:?usage: bootstrap.sh app|tests}"
case "$kind" in
  app) req=requirements.txt ;;
  tests) req=requirements-dev.txt ;;
  *) echo "bootstrap.sh: unknown kind '$kind' (app or tests)" >&2; exit 2 ;;
esac

missing=()
while read -r package program kinds; do
  case "$package" in ''|'#'*) continue ;; esac
  kinds="${kinds%%#*}"
  if [[ " $kinds " == *" $kind "* ]] && ! command -v "$program" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done < scripts/system-packages.txt
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "bootstrap.sh: please install these Debian packages (as root): ${missing[*]}" >&2
      exit 1
    fi
    sudo_cmd=(sudo)
  fi
  echo "Installing Debian packages: ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq "${missing[@]}" >/dev/null
fi

py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.installed-$req"
want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q -r "$req"
  echo "$want" > "$stamp"
fi
