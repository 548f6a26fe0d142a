#!/bin/sh
# Cross-compiles onyx for ARM with Debian's cross compilers and runs it under
# qemu-user: aarch64 (the NEON target) and ARMv6 hard-float (Raspberry Pi Zero,
# plain C). Static binaries, so no target sysroot is needed at run time.
set -u
MAKE=${MAKE:-make}
fail=0
stage() { echo "---- $*"; }

stage "aarch64: build"
$MAKE --no-print-directory CC=aarch64-linux-gnu-gcc BUILD=build-aarch64 LDFLAGS=-static \
    build-aarch64/onyx build-aarch64/libonyx.a || exit 1
stage "aarch64: unit tests under qemu-aarch64"
ONYX_TEST_WRAPPER=qemu-aarch64 $MAKE --no-print-directory CC=aarch64-linux-gnu-gcc BUILD=build-aarch64 LDFLAGS=-static RUN=qemu-aarch64 unit || fail=1
stage "aarch64: conformance under qemu-aarch64"
/usr/bin/python3 tests/conformance.py --onyx build-aarch64/onyx --wrapper qemu-aarch64 \
    --expected tests/conformance_pass.txt --timeout 600 || fail=1
stage "aarch64: zoo parity (MobileNetV2 batch 1 and 2, UDnet 256x256) under qemu-aarch64"
# qemu runs NEON code about 30x slower than the host: UDnet's 512x512 set alone
# would take a quarter of an hour, so the emulated check uses its 256x256 set
rm -rf build-aarch64/zoo
mkdir -p build-aarch64/zoo/udnet
ln -s "$(cd models/zoo/mobilenet_v2 && pwd)" build-aarch64/zoo/mobilenet_v2
ln -s "$(cd models/zoo/udnet && pwd)/model.onnx" build-aarch64/zoo/udnet/model.onnx
ln -s "$(cd models/zoo/udnet && pwd)/test_data_set_0" build-aarch64/zoo/udnet/test_data_set_0
ZOO=build-aarch64/zoo sh tests/zoo_parity.sh "qemu-aarch64 build-aarch64/onyx" || fail=1

stage "armv6 (Raspberry Pi Zero): build"
ARMV6="-O2 -g -pthread -march=armv6+fp -marm"
$MAKE --no-print-directory CC=arm-linux-gnueabihf-gcc BUILD=build-armv6 CFLAGS="$ARMV6" LDFLAGS=-static \
    build-armv6/onyx build-armv6/libonyx.a || exit 1
stage "armv6: unit tests under qemu-arm"
ONYX_TEST_WRAPPER=qemu-arm $MAKE --no-print-directory CC=arm-linux-gnueabihf-gcc BUILD=build-armv6 CFLAGS="$ARMV6" LDFLAGS=-static RUN=qemu-arm unit || fail=1
stage "armv6: conformance under qemu-arm"
/usr/bin/python3 tests/conformance.py --onyx build-armv6/onyx --wrapper qemu-arm \
    --expected tests/conformance_pass.txt --timeout 600 || fail=1
exit $fail
