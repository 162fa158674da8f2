#!/usr/bin/env bash
# Installs the Debian 12 packages that the browser test, headless VTK rendering and the offscreen Qt
# check need. Idempotent: when every package is installed it changes nothing and runs no apt-get.
# Usage (as root, or with sudo): tools/install_system_packages.sh
set -euo pipefail

PACKAGES=(
  # The real browser of Testing/test_web_browser.py (Playwright drives it through executable_path)
  # and fonts for the page text.
  chromium
  fonts-liberation
  fonts-dejavu-core
  # Headless VTK (trame-slicer's views): EGL on Mesa (llvmpipe), OSMesa as the fallback.
  libegl1
  libegl-mesa0
  libgl1
  libgl1-mesa-dri
  libosmesa6
  # PySide6's offscreen platform plugin and QtWidgets/QtUiTools: the libraries they link outside
  # the wheel (readelf -d NEEDED of libqoffscreen.so, libQt6Gui, libQt6Widgets, libQt6DBus).
  libdbus-1-3
  libfontconfig1
  libfreetype6
  libglib2.0-0
  libx11-6
  libxkbcommon0
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "error: dpkg-query not found: tools/install_system_packages.sh installs Debian packages;" \
    "on another system install the equivalents of: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}." \
    "Run 'sudo tools/install_system_packages.sh' (or 'sudo apt-get install ${missing[*]}') and retry." >&2
  exit 1
fi

echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

for package in "${missing[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    echo "error: apt-get did not install $package; see the apt-get output above." >&2
    exit 1
  fi
done
