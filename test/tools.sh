#!/usr/bin/env bash
# The programs the tests run beside zmesh: a real DNS server (dnsmasq) for the DNS-SD
# tests, on loopback and in network namespaces of their own. A fresh machine has none;
# as root (which the namespace tests need anyway) this installs it from Debian's
# packages. Without root nothing is installed, and the tests that need root say so.
set -euo pipefail
if command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test/tools.sh: dnsmasq is missing (apt-get install --no-install-recommends dnsmasq-base, as root); the DNS-SD tests will fail" >&2
  exit 0
fi
echo "test/tools.sh: installing dnsmasq-base (the DNS-SD tests' DNS server)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends dnsmasq-base >/dev/null 2>&1 \
  || { apt-get update >/dev/null && apt-get install -y --no-install-recommends dnsmasq-base >/dev/null; }
