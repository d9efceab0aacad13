#!/usr/bin/env bash
# Install the Debian packages of the real test servers (snmpd, net-snmp tools, Prometheus,
# Alertmanager, VictoriaMetrics, snmp_exporter, InfluxDB 1.x for the InfluxQL dashboard
# tests) and headless Chromium (status page tests).
# Idempotent: when every package is already installed and its command is on PATH, apt is
# not touched at all (a warm machine skips it).
# No daemon is started: the tests start their own servers on free loopback ports. Where
# the machine has no /usr/sbin/policy-rc.d, one that denies every start is put in place
# for the duration of the install (influxdb, snmpd, prometheus... would otherwise start
# on their default ports).
set -euo pipefail

# package -> a command it provides (both must be present for the package to count as installed)
declare -A PACKAGES=(
  [snmpd]=snmpd
  [snmp]=snmpget
  [prometheus]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [victoria-metrics]=victoria-metrics
  [prometheus-snmp-exporter]=prometheus-snmp-exporter
  [chromium]=chromium
  [influxdb]=influxd
  [faketime]=faketime  # libfaketime: wall-clock steps under a running service (tests)
  [systemd]=systemd-analyze  # verifies deploy/borderwatch.service offline (no running systemd)
  [stress-ng]=stress-ng  # the CPU hog of `make test-under-load`
  [nftables]=nft  # random loss for any protocol (ICMP too) in the emulated VSAT/microwave links
)

# snmpd lives in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
for pkg in "${!PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1 || ! command -v "${PACKAGES[$pkg]}" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-debian-deps: all packages present, skipping apt"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  # exit 101 = "action forbidden" for invoke-rc.d and deb-systemd-invoke
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi

echo "install-debian-deps: installing ${missing[*]}"
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

# influxdb's package also enables its systemd unit for the next boot (policy-rc.d only
# stops the start now): the tests never want an influxd on the default ports.
# `systemctl disable` only edits links: it works without a running systemd (containers).
if [[ " ${missing[*]} " == *" influxdb "* ]] && command -v systemctl >/dev/null; then
  $SUDO systemctl disable influxdb.service || true
fi

for pkg in "${missing[@]}"; do
  if ! command -v "${PACKAGES[$pkg]}" >/dev/null 2>&1; then
    echo "install-debian-deps: $pkg installed but ${PACKAGES[$pkg]} is not on PATH" >&2
    exit 1
  fi
done
