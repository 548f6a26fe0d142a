#!/bin/sh
# Installs what the tests need when it is missing (Debian packages only).
# Idempotent: a machine that has everything installs nothing.
set -eu
need=""
[ -d /usr/share/libonnx-testdata/data/node ] || need="$need libonnx-testdata"
[ -x /usr/bin/python3 ] || need="$need python3"
command -v clang >/dev/null 2>&1 || need="$need clang"
[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] || \
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need="$need libclang-rt-dev"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need="$need gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1 || need="$need gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
command -v qemu-aarch64 >/dev/null 2>&1 || need="$need qemu-user"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
    echo "tests/deps.sh: installing$need"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
