#!/usr/bin/env bash
# Installs the Debian packages the test suite and the sandbox need, when they are missing:
# PostgreSQL (store integration tests), bubblewrap (code sandbox), Chromium and its driver
# (browser tests), and the sandbox's scientific Python packages. Runs apt-get as root, or through
# sudo; without either it says what to install.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -x /usr/bin/chromium ] || need+=(chromium)
# SciCode runs its programs on the system Python inside the sandbox: numpy, scipy, sympy, h5py.
for mod in numpy scipy sympy h5py; do
  /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || need+=("python3-$mod")
done
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "system-deps: please install these Debian packages: ${need[*]}" >&2; exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
