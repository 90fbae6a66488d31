# SPDX-License-Identifier: GPL-2.0
#
# make                 lmig.ko against the running kernel, and the tools
# make KDIR=DIR        lmig.ko against the kernel headers in DIR
# make tools           lmctl and the test programs only
# make check           every test suite in the emulated hosts (6.1)
# make check KVERS="6.1 6.12"
# make check KVERS=debug   on a KASAN, lockdep, kmemleak, UBSAN build of 6.1 (built once)
# make demo            two emulated hosts, their RDMA link, a live migration
# make bench           lmig against ib_write_bw and QEMU's RDMA migration, in the rig
# make bench-scale     kernel memory, setup and harvest time of 1 to 4 GiB guests
# make deps            install the Debian packages all of this needs
# make style           checkpatch on the module
# make install         lmig.ko into /lib/modules, lmctl into $(PREFIX)/sbin
# make dkms-install    register with DKMS so lmig follows kernel upgrades
#
# WERROR=1 turns warnings into errors everywhere (CI sets it).

KDIR ?= /lib/modules/$(shell uname -r)/build
KVERS ?= 6.1
PREFIX ?= /usr/local
VERSION := 0.1
WERROR ?=

BUILD := build
BIN := $(BUILD)/bin
CC ?= cc
CFLAGS ?= -O2 -g
TOOL_CFLAGS := -std=gnu11 -Wall -Wextra -Iuapi $(if $(WERROR),-Werror)

TOOLS := $(BIN)/lmctl $(BIN)/lmvm $(BUILD)/qguest.bin
TEST_PROGS := $(BIN)/rig-exec $(BIN)/kvm-dirty-log $(BIN)/uapi-version $(BIN)/qmp \
	$(BIN)/lmvm-copy $(BIN)/uapi-session $(BIN)/uapi-fuzz $(BIN)/rogue-peer \
	$(BUILD)/lguest.cpio.gz
COMMON := tools/common/json.c tools/common/qmp.c

.PHONY: all module tools deps check demo bench bench-scale style install dkms-install clean rig-build

all: module tools

module:
	@test -d "$(KDIR)" || { echo "No kernel headers at $(KDIR)."; \
		echo "Install linux-headers-$$(uname -r), or pass KDIR=/path/to/headers."; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(WERROR),LMIG_WERROR=y) modules

tools: $(TOOLS) $(TEST_PROGS)

LMCTL_COMMON := tools/common/vmfd.c tools/common/qmp.c tools/common/json.c tools/common/size.c
$(BIN)/lmctl: tools/lmctl/*.c tools/lmctl/*.h $(LMCTL_COMMON) tools/common/*.h \
		uapi/linux/lmig.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -o $@ $(filter %.c,$^)

# lmvm's guest: freestanding 64-bit code linked at its guest-physical
# address, turned into a flat binary that lmvm carries.
GUEST_CFLAGS := -O2 -m64 -ffreestanding -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -fcf-protection=none \
	-fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables \
	-Wall -Wextra $(if $(WERROR),-Werror)

$(BUILD)/lmvm-guest.elf: tools/lmvm/guest/entry.S tools/lmvm/guest/guest.c \
		tools/lmvm/guest/abi.h tools/lmvm/guest/guest.lds | $(BIN)
	$(CC) $(GUEST_CFLAGS) -nostdlib -static -no-pie -Wl,-T,tools/lmvm/guest/guest.lds \
		-Wl,--build-id=none -o $@ $(filter %.S %.c,$^)

$(BUILD)/lmvm-guest.bin: $(BUILD)/lmvm-guest.elf
	objcopy -O binary $< $@

# qguest, the QEMU/KVM guest of the tests and benchmarks: a 32-bit
# Multiboot image for QEMU's -kernel.
QGUEST_CFLAGS := -O2 -m32 -ffreestanding -fno-pic -fno-pie -mgeneral-regs-only \
	-fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -Wall -Wextra $(if $(WERROR),-Werror)

$(BUILD)/qguest.elf: tests/qguest/entry.S tests/qguest/qguest.c tests/qguest/qguest.lds \
		tools/lmvm/guest/abi.h | $(BIN)
	$(CC) $(QGUEST_CFLAGS) -nostdlib -static -no-pie -Wl,-T,tests/qguest/qguest.lds \
		-Wl,--build-id=none -Wl,--no-warn-rwx-segments -o $@ $(filter %.S %.c,$^)

$(BUILD)/qguest.bin: $(BUILD)/qguest.elf
	objcopy -O binary $< $@

# lguest, a Linux guest for the QEMU tests: busybox (busybox-static, from
# make deps) and tests/lguest/init in an initramfs; its kernel is the rig's.
$(BUILD)/lguest.cpio.gz: tests/lguest/init | $(BIN)
	@test -x /bin/busybox || { echo "No /bin/busybox: make deps installs busybox-static."; exit 1; }
	rm -rf $(BUILD)/lguest
	mkdir -p $(BUILD)/lguest/bin $(BUILD)/lguest/proc $(BUILD)/lguest/dev
	cp /bin/busybox $(BUILD)/lguest/bin/busybox
	cp tests/lguest/init $(BUILD)/lguest/init
	(cd $(BUILD)/lguest && find . | cpio -o -H newc --quiet) | gzip -9 >$@

LMVM_SRC := $(wildcard tools/lmvm/*.c) tools/common/json.c tools/common/size.c
$(BIN)/lmvm: $(LMVM_SRC) tools/lmvm/*.h tools/common/*.h tools/lmvm/guest/abi.h \
		tools/lmvm/guest/blob.S $(BUILD)/lmvm-guest.bin | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -Wa,-I$(BUILD) -pthread -o $@ \
		$(LMVM_SRC) tools/lmvm/guest/blob.S

$(BIN)/uapi-session: tests/progs/uapi-session.c tests/progs/tap.h tools/common/vmfd.c \
		tools/common/vmfd.h tools/lmctl/uri.c tools/lmctl/uri.h uapi/linux/lmig.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -Itools/lmctl -o $@ $< tools/common/vmfd.c \
		tools/lmctl/uri.c

$(BIN)/uapi-fuzz: tests/progs/uapi-fuzz.c tests/progs/tap.h tools/common/vmfd.c \
		tools/common/vmfd.h uapi/linux/lmig.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -pthread -o $@ $< tools/common/vmfd.c

# lmvm's memory digest is linked in, so that the rogue destination reports
# its memory as x-memory-digest reports the VM's.
ROGUE_SRC := tests/progs/rogue-peer.c tests/progs/rogue-link.c tools/lmvm/util.c
$(BIN)/rogue-peer: $(ROGUE_SRC) tests/progs/rogue-peer.h tools/lmvm/lmvm.h \
		uapi/linux/lmig.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/lmvm -o $@ $(ROGUE_SRC) -lrdmacm -libverbs

$(BIN)/qmp: tests/progs/qmp.c $(COMMON) tools/common/*.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -o $@ $< $(COMMON)

$(BIN)/lmvm-copy: tests/progs/lmvm-copy.c $(COMMON) tools/common/*.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -o $@ $< $(COMMON)

$(BIN)/rig-exec: tests/rig/rig-exec.c tools/common/io.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -Itools/common -o $@ $<

$(BIN)/kvm-dirty-log: tests/progs/kvm-dirty-log.c tests/progs/tap.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -o $@ $<

$(BIN)/uapi-version: tests/progs/uapi-version.c tests/progs/tap.h uapi/linux/lmig.h | $(BIN)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -o $@ $<

$(BIN):
	mkdir -p $@

# The rig: fetch the test kernels, build lmig.ko against each and the
# initramfs of its hosts. tests/check.sh calls this itself.
rig-build: deps tools
	tests/rig/prepare.sh $(KVERS)

# The packages the build and the rig need, installed if missing (as root).
deps:
	tests/rig/deps.sh

check: deps tools
	tests/check.sh $(KVERS)

demo: deps tools
	tests/demo.sh $(firstword $(KVERS))

# lmig against ib_write_bw and QEMU's RDMA migration, on the rig's link.
bench: deps tools
	tests/bench.sh $(firstword $(KVERS))

# What a session costs as guests grow: sparse lmvm VMs of 1, 2 and 4 GiB.
bench-scale: deps tools
	tests/bench.sh --scale $(firstword $(KVERS))

style: deps
	tests/style.sh

install: all
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	install -D -m 0755 $(BIN)/lmctl $(DESTDIR)$(PREFIX)/sbin/lmctl
	install -D -m 0644 tools/lmctl/lmctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/lmctl.8
	depmod -a

dkms-install:
	rm -rf /usr/src/lmig-$(VERSION)
	mkdir -p /usr/src/lmig-$(VERSION)
	cp -r Kbuild dkms.conf kmod uapi /usr/src/lmig-$(VERSION)/
	dkms add lmig/$(VERSION) || true
	dkms build lmig/$(VERSION)
	dkms install lmig/$(VERSION)

clean:
	test ! -d "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)
